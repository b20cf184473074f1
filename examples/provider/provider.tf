terraform {
  required_providers {
    cvm = {
      source = "cvm-provider/cvm"
    }
  }
}

provider "cvm" {
  coder {
    url = "https://coder.example.com"
    # session_token comes from CODER_SESSION_TOKEN when not set here.
  }
}

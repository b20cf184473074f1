# Turn on container-based virtual machines (CVMs) with cached CVMs, and
# give CVMs TUN and FUSE devices. Switches left out stay as they are.
resource "cvm_settings" "main" {
  enabled     = true
  gpu_vendor  = ""
  tun_device  = true
  fuse_device = true

  caching {
    enabled           = true
    auto_load_shiftfs = true
  }
}

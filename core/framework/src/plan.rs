//! Planning: from Terraform's proposed new state to the planned state.
//!
//! The steps, in order, for a create or an update:
//!
//! 1. Write-only attributes are planned as null (Terraform rejects
//!    anything else).
//! 2. Attributes with a default take it where configuration is null.
//! 3. If the resource is being created, or the plan differs from the prior
//!    state, every computed attribute that configuration leaves null becomes
//!    unknown ("known after apply"): the provider may change it.
//! 4. Each attribute's plan modifiers run, in declaration order:
//!    [`PlanModifier::UseStateForUnknown`] puts the prior value back,
//!    [`PlanModifier::RequiresReplace`] records that a change replaces the
//!    resource, and why.
//!
//! Destroy plans are null and skip all of this.

use std::collections::BTreeMap;

use tf_protocol::{AttributePath, Value};

use crate::schema::{Attribute, AttributeKind, Block, Nesting};

/// A change to how one attribute is planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanModifier {
    /// A change to this attribute replaces the resource.
    RequiresReplace {
        /// Why, in a sentence for the user.
        reason: String,
    },
    /// Keep the prior state's value rather than planning it as unknown.
    UseStateForUnknown,
}

/// Why the plan replaces the resource: the attribute that changed and the
/// reason its schema gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// The attribute whose change forces replacement.
    pub path: AttributePath,
    /// The schema's reason.
    pub reason: String,
}

/// The result of planning.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// The planned new state.
    pub state: Value,
    /// Attributes whose change replaces the resource.
    pub replacements: Vec<Replacement>,
}

/// Plans a create (`prior` null) or an update, from Terraform's proposed
/// new state.
pub fn plan(block: &Block, prior: &Value, config: &Value, proposed: Value) -> Planned {
    let creating = prior.is_null();
    let mut state = proposed;

    walk(
        block,
        &AttributePath::root(),
        config,
        prior,
        &mut state,
        &mut |attribute, _path, config, _prior, planned| {
            if attribute.write_only {
                *planned = Value::Null;
            } else if config.is_null()
                && let Some(default) = &attribute.default
            {
                *planned = default.clone();
            }
        },
    );

    if creating || !state.semantically_equal(prior) {
        walk(
            block,
            &AttributePath::root(),
            config,
            prior,
            &mut state,
            &mut |attribute, _path, config, _prior, planned| {
                if attribute.computed
                    && config.is_null()
                    && attribute.default.is_none()
                    && !attribute.write_only
                {
                    *planned = Value::unknown();
                }
            },
        );
    }

    let mut replacements = Vec::new();
    if !creating {
        walk(
            block,
            &AttributePath::root(),
            config,
            prior,
            &mut state,
            &mut |attribute, path, config, prior, planned| {
                for modifier in &attribute.plan_modifiers {
                    match modifier {
                        PlanModifier::UseStateForUnknown => {
                            if planned.is_unknown() && !config.is_unknown() {
                                *planned = prior.clone();
                            }
                        }
                        PlanModifier::RequiresReplace { reason } => {
                            if planned.is_unknown() || !planned.semantically_equal(prior) {
                                replacements.push(Replacement {
                                    path: path.clone(),
                                    reason: reason.clone(),
                                });
                            }
                        }
                    }
                }
            },
        );
    }

    Planned {
        state,
        replacements,
    }
}

/// Puts back the framework's finer value wherever a resource's plan says
/// "unknown" for a value that is only partly unknown in `framework`: a
/// model reads `[unknown, "b"]` into an `Attr<Vec<String>>` as unknown
/// (see [`Attr`](tf_protocol::value::Attr)), and writing that back as a
/// wholly unknown list would change a configured value, which Terraform
/// rejects as an invalid plan.
pub(crate) fn keep_partial_unknowns(from_model: Value, framework: &Value) -> Value {
    match (from_model, framework) {
        (Value::Unknown(_), finer) if !finer.is_null() && !finer.is_wholly_known() => finer.clone(),
        (Value::Object(mut attrs), Value::Object(finer))
        | (Value::Map(mut attrs), Value::Map(finer))
            if attrs.len() == finer.len() && attrs.keys().eq(finer.keys()) =>
        {
            for (key, value) in &mut attrs {
                let taken = std::mem::replace(value, Value::Null);
                *value = keep_partial_unknowns(taken, &finer[key]);
            }
            match framework {
                Value::Object(_) => Value::Object(attrs),
                _ => Value::Map(attrs),
            }
        }
        (Value::List(items), Value::List(finer)) if items.len() == finer.len() => Value::List(
            items
                .into_iter()
                .zip(finer)
                .map(|(v, f)| keep_partial_unknowns(v, f))
                .collect(),
        ),
        (Value::Set(items), Value::Set(finer)) if items.len() == finer.len() => Value::Set(
            items
                .into_iter()
                .zip(finer)
                .map(|(v, f)| keep_partial_unknowns(v, f))
                .collect(),
        ),
        (other, _) => other,
    }
}

/// Copies every unknown value left in `value` to null, for a partial state
/// saved after a failed create.
pub fn unknowns_to_null(value: &mut Value) {
    match value {
        Value::Unknown(_) => *value = Value::Null,
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            items.iter_mut().for_each(unknowns_to_null);
        }
        Value::Map(items) | Value::Object(items) => {
            items.values_mut().for_each(unknowns_to_null);
        }
        Value::Dynamic(_, inner) => unknowns_to_null(inner),
        _ => {}
    }
}

type Visit<'f> = dyn FnMut(&Attribute, &AttributePath, &Value, &Value, &mut Value) + 'f;

/// Calls `visit` for every attribute of `block` with its configuration,
/// prior and planned values (null when absent), parents before children.
/// Elements of sets are not visited: they have no stable address.
pub(crate) fn walk(
    block: &Block,
    path: &AttributePath,
    config: &Value,
    prior: &Value,
    planned: &mut Value,
    visit: &mut Visit<'_>,
) {
    let Value::Object(planned_attrs) = planned else {
        return;
    };
    for attribute in &block.attributes {
        let Some(planned_value) = planned_attrs.get_mut(&attribute.name) else {
            continue;
        };
        let path = path.clone().attribute(&attribute.name);
        let config_value = child(config, &attribute.name);
        let prior_value = child(prior, &attribute.name);
        visit(attribute, &path, config_value, prior_value, planned_value);
        if let AttributeKind::Nested {
            attributes,
            nesting,
        } = &attribute.kind
        {
            let nested = Block {
                attributes: attributes.clone(),
                ..Default::default()
            };
            walk_nested(
                &nested,
                *nesting,
                &path,
                config_value,
                prior_value,
                planned_value,
                visit,
            );
        }
    }
    for nested in &block.blocks {
        let Some(planned_value) = planned_attrs.get_mut(&nested.type_name) else {
            continue;
        };
        let path = path.clone().attribute(&nested.type_name);
        walk_nested(
            &nested.block,
            nested.nesting,
            &path,
            child(config, &nested.type_name),
            child(prior, &nested.type_name),
            planned_value,
            visit,
        );
    }
}

fn walk_nested(
    block: &Block,
    nesting: Nesting,
    path: &AttributePath,
    config: &Value,
    prior: &Value,
    planned: &mut Value,
    visit: &mut Visit<'_>,
) {
    match (nesting, planned) {
        (Nesting::Single | Nesting::Group, planned @ Value::Object(_)) => {
            walk(block, path, config, prior, planned, visit);
        }
        (Nesting::List, Value::List(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                let index = i64::try_from(i).unwrap_or(i64::MAX);
                walk(
                    block,
                    &path.clone().index(index),
                    element(config, i),
                    element(prior, i),
                    item,
                    visit,
                );
            }
        }
        (Nesting::Map, Value::Map(items)) => {
            for (key, item) in items.iter_mut() {
                walk(
                    block,
                    &path.clone().key(key.clone()),
                    entry(config, key),
                    entry(prior, key),
                    item,
                    visit,
                );
            }
        }
        _ => {}
    }
}

static NULL: Value = Value::Null;

fn child<'v>(value: &'v Value, name: &str) -> &'v Value {
    match value {
        Value::Object(attrs) => attrs.get(name).unwrap_or(&NULL),
        _ => &NULL,
    }
}

fn element(value: &Value, index: usize) -> &Value {
    match value {
        Value::List(items) => items.get(index).unwrap_or(&NULL),
        _ => &NULL,
    }
}

fn entry<'v>(value: &'v Value, key: &str) -> &'v Value {
    match value {
        Value::Map(items) => items.get(key).unwrap_or(&NULL),
        _ => &NULL,
    }
}

/// Builds an object value from pairs; handy in tests and imports.
pub fn object<I, K>(pairs: I) -> Value
where
    I: IntoIterator<Item = (K, Value)>,
    K: Into<String>,
{
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Attribute;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn a_models_unknown_keeps_the_finer_framework_value() {
        let partial = Value::List(vec![Value::unknown(), s("b")]);
        let framework = object([
            ("subnets", partial.clone()),
            ("id", Value::unknown()),
            ("name", s("x")),
        ]);
        // What a model with Attr<Vec<String>> writes back: unknown lists.
        let from_model = object([
            ("subnets", Value::unknown()),
            ("id", Value::unknown()),
            ("name", s("x")),
        ]);
        let kept = keep_partial_unknowns(from_model, &framework);
        assert_eq!(kept, framework);
        // A model that makes a known value unknown (known after apply) is obeyed.
        let framework = object([("id", s("old")), ("name", s("x"))]);
        let from_model = object([("id", Value::unknown()), ("name", s("x"))]);
        assert_eq!(
            keep_partial_unknowns(from_model.clone(), &framework),
            from_model
        );
        // So is one that sets a value where the framework had none.
        let framework = object([("id", Value::Null), ("name", Value::unknown())]);
        let from_model = object([("id", Value::unknown()), ("name", Value::unknown())]);
        assert_eq!(
            keep_partial_unknowns(from_model.clone(), &framework),
            from_model
        );
    }

    fn schema() -> Block {
        Block::new("test")
            .attribute(Attribute::string("id").computed().use_state_for_unknown())
            .attribute(
                Attribute::string("name")
                    .required()
                    .requires_replace("names are immutable"),
            )
            .attribute(Attribute::string("note").optional())
            .attribute(Attribute::string("status").computed())
            .attribute(Attribute::string("namespace").default(s("kube-system")))
            .attribute(Attribute::string("secret_wo").optional().write_only())
    }

    fn obj(id: Value, name: &str, note: Value, status: Value, ns: Value, wo: Value) -> Value {
        object([
            ("id", id),
            ("name", s(name)),
            ("note", note),
            ("status", status),
            ("namespace", ns),
            ("secret_wo", wo),
        ])
    }

    #[test]
    fn create_marks_computed_unknown_applies_defaults_and_nulls_write_only() {
        let config = obj(
            Value::Null,
            "a",
            Value::Null,
            Value::Null,
            Value::Null,
            s("pw"),
        );
        let planned = plan(&schema(), &Value::Null, &config, config.clone());
        assert_eq!(
            planned.state,
            obj(
                Value::unknown(),
                "a",
                Value::Null,
                Value::unknown(),
                s("kube-system"),
                Value::Null
            )
        );
        assert!(planned.replacements.is_empty());
    }

    #[test]
    fn unchanged_update_keeps_prior_values() {
        let prior = obj(
            s("1"),
            "a",
            Value::Null,
            s("ok"),
            s("kube-system"),
            Value::Null,
        );
        let config = obj(
            Value::Null,
            "a",
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        );
        let proposed = obj(
            s("1"),
            "a",
            Value::Null,
            s("ok"),
            s("kube-system"),
            Value::Null,
        );
        let planned = plan(&schema(), &prior, &config, proposed);
        assert_eq!(planned.state, prior);
    }

    #[test]
    fn changed_update_marks_computed_unknown_but_keeps_state_for_unknown() {
        let prior = obj(
            s("1"),
            "a",
            Value::Null,
            s("ok"),
            s("kube-system"),
            Value::Null,
        );
        let config = obj(
            Value::Null,
            "a",
            s("hi"),
            Value::Null,
            Value::Null,
            Value::Null,
        );
        let proposed = obj(s("1"), "a", s("hi"), s("ok"), s("kube-system"), Value::Null);
        let planned = plan(&schema(), &prior, &config, proposed);
        assert_eq!(
            planned.state,
            obj(
                s("1"),
                "a",
                s("hi"),
                Value::unknown(),
                s("kube-system"),
                Value::Null
            )
        );
    }

    #[test]
    fn requires_replace_reports_path_and_reason() {
        let prior = obj(
            s("1"),
            "a",
            Value::Null,
            s("ok"),
            s("kube-system"),
            Value::Null,
        );
        let config = obj(
            Value::Null,
            "b",
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        );
        let proposed = obj(
            s("1"),
            "b",
            Value::Null,
            s("ok"),
            s("kube-system"),
            Value::Null,
        );
        let planned = plan(&schema(), &prior, &config, proposed);
        assert_eq!(
            planned.replacements,
            vec![Replacement {
                path: AttributePath::attr("name"),
                reason: "names are immutable".into()
            }]
        );
    }

    #[test]
    fn unknowns_become_null_for_partial_state() {
        let mut v = object([("a", Value::unknown()), ("b", s("x"))]);
        unknowns_to_null(&mut v);
        assert_eq!(v, object([("a", Value::Null), ("b", s("x"))]));
    }
}

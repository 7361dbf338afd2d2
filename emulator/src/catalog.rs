//! The integrations catalog (`GET /integrations`; `emulator/README.md`, "The wire contract"):
//! the 15 integration types, their
//! authentication fields (which drive connection validation, defaults and secret redaction),
//! their rule actions, and the synthetic action data and destination fields served for them.

use std::sync::LazyLock;

use serde_json::{Value, json};

/// Every integration type, in the contract's order (`emulator/README.md`, "The wire
/// contract"; pinned by `golden/integrations.list.json`).
pub const TYPES: [&str; 15] = [
    "activecampaign",
    "aweber",
    "customer_io",
    "discord",
    "hubspot",
    "intercom",
    "mailchimp",
    "mailerlite",
    "pipedrive",
    "resend",
    "sendgrid",
    "salesforce",
    "slack",
    "webhook",
    "zoom",
];

/// One authentication field of an integration (`authentication.fields[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthField {
    /// Metadata key.
    pub key: &'static str,
    /// `text`, `password` or `select`.
    pub kind: &'static str,
    /// Whether a connection must carry it (only when its `depends_on` holds).
    pub required: bool,
    /// Value stored when the client leaves the field out.
    pub default: Option<&'static str>,
    /// Allowed values of a `select`.
    pub options: &'static [&'static str],
    /// `validate: "url"`.
    pub url: bool,
    /// Field only applies when another field has one of these values.
    pub depends_on: Option<(&'static str, &'static [&'static str])>,
    /// Human label.
    pub label: &'static str,
}

const fn field(key: &'static str, kind: &'static str, label: &'static str) -> AuthField {
    AuthField {
        key,
        kind,
        required: false,
        default: None,
        options: &[],
        url: false,
        depends_on: None,
        label,
    }
}

const fn req(mut f: AuthField) -> AuthField {
    f.required = true;
    f
}

const fn url(mut f: AuthField) -> AuthField {
    f.url = true;
    f
}

const fn select(
    mut f: AuthField,
    options: &'static [&'static str],
    default: Option<&'static str>,
) -> AuthField {
    f.options = options;
    f.default = default;
    f
}

const fn when(mut f: AuthField, on: &'static str, values: &'static [&'static str]) -> AuthField {
    f.depends_on = Some((on, values));
    f
}

const WEBHOOK_FIELDS: &[AuthField] = &[
    url(req(field("url", "text", "Webhook URL"))),
    select(
        field("http_method", "select", "HTTP Method"),
        &["POST", "PUT", "PATCH"],
        Some("POST"),
    ),
    select(
        field("payload_mode", "select", "Payload Mode"),
        &["wrapped", "raw"],
        Some("wrapped"),
    ),
    select(
        field("auth_scheme", "select", "Authentication"),
        &["none", "basic", "bearer", "custom_header"],
        Some("none"),
    ),
    when(
        req(field("basic_username", "text", "Username")),
        "auth_scheme",
        &["basic"],
    ),
    when(
        req(field("basic_password", "password", "Password")),
        "auth_scheme",
        &["basic"],
    ),
    when(
        req(field("bearer_token", "password", "Bearer Token")),
        "auth_scheme",
        &["bearer"],
    ),
    when(
        req(field("custom_header_name", "text", "Header Name")),
        "auth_scheme",
        &["custom_header"],
    ),
    when(
        req(field("custom_header_value", "password", "Header Value")),
        "auth_scheme",
        &["custom_header"],
    ),
    select(
        field("signing_algorithm", "select", "Signing Algorithm"),
        &["hmac-sha256", "hmac-sha512"],
        None,
    ),
    field("signing_secret", "password", "Signing Secret"),
    field("signature_header", "text", "Signature Header Name"),
    field(
        "custom_headers",
        "text",
        "Custom Headers (JSON object, up to 5)",
    ),
    select(
        field("skip_url_test", "select", "Skip URL Payload Test"),
        &["true", "false"],
        None,
    ),
];

const MAILCHIMP_FIELDS: &[AuthField] = &[
    req(field("data_center", "text", "Data Center")),
    req(field("api_key", "password", "API Key")),
];
const ACTIVECAMPAIGN_FIELDS: &[AuthField] = &[
    url(req(field("api_url", "text", "API URL"))),
    req(field("api_key", "password", "API Key")),
];
const API_KEY_ONLY: &[AuthField] = &[req(field("api_key", "password", "API Key"))];
const RESEND_FIELDS: &[AuthField] = &[req(field("api_key", "password", "API Token"))];
const CUSTOMER_IO_FIELDS: &[AuthField] = &[
    select(
        req(field("region", "select", "Region")),
        &["US", "EU"],
        None,
    ),
    req(field("cdpApiKey", "password", "CDP API Key")),
];

/// Authentication type: `api_key`, `none` or `oauth`.
pub fn auth_type(kind: &str) -> &'static str {
    match kind {
        "webhook" => "none",
        "mailchimp" | "activecampaign" | "mailerlite" | "resend" | "sendgrid" | "customer_io" => {
            "api_key"
        }
        _ => "oauth",
    }
}

/// Authentication fields of an integration type (empty for OAuth and unknown types).
pub fn auth_fields(kind: &str) -> &'static [AuthField] {
    match kind {
        "webhook" => WEBHOOK_FIELDS,
        "mailchimp" => MAILCHIMP_FIELDS,
        "activecampaign" => ACTIVECAMPAIGN_FIELDS,
        "mailerlite" | "sendgrid" => API_KEY_ONLY,
        "resend" => RESEND_FIELDS,
        "customer_io" => CUSTOMER_IO_FIELDS,
        _ => &[],
    }
}

/// Whether `kind` is one of the 15 types.
pub fn is_type(kind: &str) -> bool {
    TYPES.contains(&kind)
}

/// Metadata keys that hold secrets (`type: password`); never echoed.
pub fn secret_keys(kind: &str) -> impl Iterator<Item = &'static str> {
    auth_fields(kind)
        .iter()
        .filter(|f| f.kind == "password")
        .map(|f| f.key)
}

/// Adds the server-side defaults (`defaultValue`) of fields the client left out, as Meshes
/// stores them; a client comparing its spec with the read-back metadata sees them.
pub fn apply_defaults(kind: &str, metadata: &mut serde_json::Map<String, Value>) {
    for f in auth_fields(kind) {
        if let Some(d) = f.default
            && metadata.get(f.key).is_none_or(Value::is_null)
        {
            metadata.insert(f.key.to_owned(), Value::String(d.to_owned()));
        }
    }
}

/// Rule action keys of an integration type.
pub fn action_keys(kind: &str) -> Vec<String> {
    integration(kind)
        .and_then(|i| i.get("actions"))
        .and_then(Value::as_object)
        .map(|a| a.keys().cloned().collect())
        .unwrap_or_default()
}

/// The catalog record of one type.
pub fn integration(kind: &str) -> Option<&'static Value> {
    CATALOG.iter().find(|v| v["type"] == kind)
}

/// Every catalog record, in [`TYPES`] order.
pub fn all() -> &'static [Value] {
    &CATALOG
}

static CATALOG: LazyLock<Vec<Value>> = LazyLock::new(|| TYPES.iter().map(|t| build(t)).collect());

fn display_name(kind: &str) -> &'static str {
    match kind {
        "activecampaign" => "ActiveCampaign",
        "aweber" => "AWeber",
        "customer_io" => "Customer.io",
        "discord" => "Discord",
        "hubspot" => "HubSpot",
        "intercom" => "Intercom",
        "mailchimp" => "Mailchimp",
        "mailerlite" => "MailerLite",
        "pipedrive" => "Pipedrive",
        "resend" => "Resend",
        "sendgrid" => "SendGrid",
        "salesforce" => "Salesforce",
        "slack" => "Slack",
        "webhook" => "Webhook",
        _ => "Zoom",
    }
}

fn auth_field_json(f: &AuthField) -> Value {
    let mut v = json!({ "label": f.label, "key": f.key, "type": f.kind, "required": f.required });
    if f.url {
        v["validate"] = json!("url");
    }
    if let Some(d) = f.default {
        v["defaultValue"] = json!(d);
    }
    if !f.options.is_empty() {
        v["options"] = f
            .options
            .iter()
            .map(|o| json!({ "label": o, "value": o }))
            .collect();
    }
    if let Some((on, values)) = f.depends_on {
        v["dependsOn"] = if values.len() == 1 {
            json!({ "field": on, "value": values[0] })
        } else {
            json!({ "field": on, "value": values })
        };
    }
    v
}

fn simple(key: &str, noun: &str) -> Value {
    json!({ "key": key, "field": "id", "kind": "simple", "label": format!("Choose a {noun}"), "noun": noun, "required": true })
}

fn advanced(key: &str, noun: &str, option_key: &str) -> Value {
    json!({
        "key": key, "field": "id", "kind": "advanced", "label": format!("Choose a {noun}"), "noun": noun, "required": true,
        "options": { "key": option_key, "field": "value", "length": 1, "type": "select", "entity": "option",
                     "display": { "label": "Value", "button": "Choose value", "description": format!("Value to set on the {noun}") } }
    })
}

fn input(field: &str, label: &str, kind: &str, required: bool) -> Value {
    json!({ "key": field, "field": field, "kind": "field", "label": label, "type": kind, "required": required })
}

fn action(
    key: &str,
    label: &str,
    noun: &str,
    fields: &[&str],
    data: Vec<Value>,
) -> (String, Value) {
    let mut v = json!({ "key": key, "label": label, "noun": noun, "fields": fields,
                        "display": { "label": label, "description": format!("{label} when the event occurs") } });
    if !data.is_empty() {
        v["data"] = Value::Array(data);
    }
    (key.to_owned(), v)
}

fn list_actions(add: &str, remove: &str, noun: &str, data_key: &str) -> Vec<(String, Value)> {
    vec![
        action(
            add,
            &format!("Add to {noun}"),
            noun,
            &["id"],
            vec![simple(data_key, noun)],
        ),
        action(
            remove,
            &format!("Remove from {noun}"),
            noun,
            &["id"],
            vec![simple(data_key, noun)],
        ),
    ]
}

fn actions_of(kind: &str) -> Vec<(String, Value)> {
    match kind {
        "webhook" => vec![action(
            "send_webhook",
            "Send Webhook",
            "webhook",
            &[],
            vec![],
        )],
        "slack" => vec![action(
            "send_message",
            "Send Message",
            "channel",
            &["id", "template"],
            vec![
                simple("channels", "channel"),
                input("template", "Message", "textarea", true),
            ],
        )],
        "discord" => vec![action(
            "send_message",
            "Send Message",
            "channel",
            &["id", "title", "template"],
            vec![
                simple("channels", "channel"),
                input("title", "Title", "text", true),
                input("template", "Message", "textarea", false),
            ],
        )],
        "hubspot" => {
            let mut a = list_actions("add_to_list", "remove_from_list", "list", "lists");
            a.push(action(
                "update_property",
                "Update Property",
                "property",
                &["id", "value"],
                vec![advanced("properties", "property", "options")],
            ));
            a
        }
        "salesforce" => {
            let mut a = list_actions(
                "add_to_campaign",
                "remove_from_campaign",
                "campaign",
                "campaigns",
            );
            a.push(action(
                "update_property",
                "Update Property",
                "property",
                &["id", "value"],
                vec![advanced("properties", "property", "options")],
            ));
            a
        }
        "intercom" => vec![
            action(
                "add_tag",
                "Add Tag",
                "tag",
                &["id"],
                vec![simple("tags", "tag")],
            ),
            action(
                "remove_tag",
                "Remove Tag",
                "tag",
                &["id"],
                vec![simple("tags", "tag")],
            ),
        ],
        "aweber" | "mailchimp" => list_actions("add_to_list", "remove_from_list", "list", "lists"),
        "zoom" => vec![
            action(
                "add_meeting_registrant",
                "Add Meeting Registrant",
                "meeting",
                &["id"],
                vec![simple("meetings", "meeting")],
            ),
            action(
                "add_webinar_registrant",
                "Add Webinar Registrant",
                "webinar",
                &["id"],
                vec![simple("webinars", "webinar")],
            ),
        ],
        "pipedrive" => vec![
            action("sync_person", "Sync Person", "person", &[], vec![]),
            action(
                "update_person_field",
                "Update Person Field",
                "field",
                &["id", "value"],
                vec![advanced("person_fields", "field", "options")],
            ),
            action(
                "add_label_to_person",
                "Add Label to Person",
                "label",
                &["id"],
                vec![simple("labels", "label")],
            ),
            action(
                "remove_label_from_person",
                "Remove Label from Person",
                "label",
                &["id"],
                vec![simple("labels", "label")],
            ),
        ],
        "activecampaign" => {
            let mut a = list_actions("add_to_list", "remove_from_list", "list", "lists");
            a.push(action(
                "add_tag",
                "Add Tag",
                "tag",
                &["id"],
                vec![simple("tags", "tag")],
            ));
            a.push(action(
                "remove_tag",
                "Remove Tag",
                "tag",
                &["id"],
                vec![simple("tags", "tag")],
            ));
            a.push(action(
                "sync_contact",
                "Sync Contact",
                "contact",
                &[],
                vec![],
            ));
            a
        }
        "mailerlite" => list_actions("add_to_group", "remove_from_group", "group", "groups"),
        "resend" => {
            let mut a = list_actions(
                "add_to_segment",
                "remove_from_segment",
                "segment",
                "segments",
            );
            a.push(action(
                "send_email_template",
                "Send Email Template",
                "template",
                &["id", "subject", "from"],
                vec![
                    simple("templates", "template"),
                    input("subject", "Subject", "text", false),
                    input("from", "From", "text", false),
                ],
            ));
            a
        }
        "sendgrid" => vec![
            action(
                "send_email_template",
                "Send Email Template",
                "template",
                &["id", "from", "subject"],
                vec![
                    simple("templates", "template"),
                    input("from", "From", "text", true),
                    input("subject", "Subject", "text", false),
                ],
            ),
            action(
                "send_email",
                "Send Email",
                "email",
                &["subject", "from", "body"],
                vec![
                    input("subject", "Subject", "text", true),
                    input("from", "From", "text", true),
                    input("body", "Body", "textarea", true),
                ],
            ),
        ],
        "customer_io" => vec![action(
            "track_event",
            "Track Event",
            "event",
            &["event_name_override"],
            vec![input(
                "event_name_override",
                "Event Name Override",
                "text",
                false,
            )],
        )],
        _ => vec![],
    }
}

fn build(kind: &str) -> Value {
    let auth = auth_type(kind);
    let mut authentication = json!({ "type": auth });
    let fields = auth_fields(kind);
    if !fields.is_empty() {
        authentication["fields"] = fields.iter().map(auth_field_json).collect();
    }
    if auth == "oauth" {
        authentication["oauth"] = json!({ "version": 2 });
    }
    let actions: serde_json::Map<String, Value> = actions_of(kind).into_iter().collect();
    json!({ "name": display_name(kind), "type": kind, "authentication": authentication, "actions": actions })
}

/// Action data served by `GET /connections/{id}/actions` when the connection has no cached
/// `action_data`: a few plausible items per data kind the type's actions use.
pub fn default_action_data(kind: &str) -> Value {
    let item = |id: &str, name: &str| json!({ "id": id, "name": name });
    let mut out = serde_json::Map::new();
    for (_, action) in actions_of(kind) {
        for d in action["data"].as_array().into_iter().flatten() {
            let (Some(key), Some(kind_)) = (d["key"].as_str(), d["kind"].as_str()) else {
                continue;
            };
            let noun = d["noun"].as_str().unwrap_or("item");
            let items = match kind_ {
                "simple" => json!([
                    item(&format!("{noun}-1"), &format!("Example {noun} 1")),
                    item(&format!("{noun}-2"), &format!("Example {noun} 2"))
                ]),
                "advanced" => {
                    json!([{ "id": format!("{noun}-1"), "name": format!("Example {noun}"),
                                       "options": [item("option-1", "Option 1"), item("option-2", "Option 2")] }])
                }
                _ => continue,
            };
            out.insert(key.to_owned(), items);
        }
    }
    Value::Object(out)
}

/// Destination field catalog of a type, `None` when the type has none (webhook, chat tools).
pub fn destination_fields(kind: &str) -> Option<Value> {
    let email = json!({ "key": "email", "type": "string", "label": "Email Address",
                        "constraints": { "format": "email", "required": true } });
    let text = |key: &str, label: &str| json!({ "key": key, "type": "string", "label": label });
    let fields = match kind {
        "webhook" | "slack" | "discord" => return None,
        "mailchimp" => vec![
            email,
            text("FNAME", "First Name"),
            text("LNAME", "Last Name"),
            text("ip_signup", "Signup IP Address"),
        ],
        "customer_io" => vec![
            email,
            text("id", "Person ID"),
            json!({ "key": "attributes", "type": "object", "label": "Attributes" }),
        ],
        "resend" | "sendgrid" => vec![
            email,
            text("first_name", "First Name"),
            text("last_name", "Last Name"),
            json!({ "key": "template_variables", "type": "object", "label": "Template Variables" }),
        ],
        _ => vec![
            email,
            text("first_name", "First Name"),
            text("last_name", "Last Name"),
            json!({ "key": "phone", "type": "string", "label": "Phone", "constraints": { "format": "phone" } }),
        ],
    };
    Some(Value::Array(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_all_types_with_actions() {
        assert_eq!(all().len(), 15);
        for t in TYPES {
            let i = integration(t).map(|v| v["type"].clone());
            assert_eq!(i, Some(json!(t)));
            assert!(!action_keys(t).is_empty(), "{t} has no actions");
        }
        assert_eq!(action_keys("webhook"), vec!["send_webhook".to_owned()]);
        assert_eq!(
            secret_keys("webhook").collect::<Vec<_>>(),
            vec![
                "basic_password",
                "bearer_token",
                "custom_header_value",
                "signing_secret"
            ]
        );
    }
}

//! The `tag` log option: a template over the container's identity, as Docker's
//! (`{{.Name}}/{{.ID}}`, `{{.ImageName}}`, …). Only field references are supported
//! (no pipelines or functions); text outside `{{ }}` is copied.

/// What a tag template can name.
#[derive(Debug, Clone, Default)]
pub struct TagInfo {
    /// Full 64-hex container id.
    pub id: String,
    /// Container name without the leading `/`.
    pub name: String,
    /// `sha256:<hex>` of the image.
    pub image_id: String,
    /// The image as the user named it (`busybox:latest`).
    pub image_name: String,
    /// The daemon's host name.
    pub hostname: String,
    /// Entrypoint and arguments, space separated.
    pub command: String,
}

impl TagInfo {
    fn field(&self, name: &str) -> Option<String> {
        let short = |s: &str| s.chars().take(12).collect::<String>();
        let hex = self
            .image_id
            .split_once(':')
            .map(|(_, h)| h)
            .unwrap_or(&self.image_id);
        Some(match name {
            "ID" => short(&self.id),
            "FullID" => self.id.clone(),
            "Name" => self.name.clone(),
            "ImageID" => short(hex),
            "ImageFullID" => self.image_id.clone(),
            "ImageName" => self.image_name.clone(),
            "DaemonName" => "berth".into(),
            "Hostname" => self.hostname.clone(),
            "Command" => self.command.clone(),
            _ => return None,
        })
    }
}

/// Docker's default tag template (syslog, fluentd).
pub const DEFAULT: &str = "{{.ID}}";

/// Expand `template` (`None` or empty: `default`). `Err` holds a Go-template-like text.
pub fn expand(template: Option<&str>, default: &str, info: &TagInfo) -> Result<String, String> {
    let t = match template {
        Some(t) if !t.is_empty() => t,
        _ => default,
    };
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            return Err(format!("template: log-tag:1: unclosed action in {t:?}"));
        };
        let action = after[..j].trim().trim_matches('-').trim();
        let Some(field) = action.strip_prefix('.') else {
            return Err(format!(
                "template: log-tag:1: unsupported action {{{{{action}}}}}"
            ));
        };
        match info.field(field) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(format!(
                    "template: log-tag:1:{}: executing \"log-tag\" at <.{field}>: can't evaluate field {field} in type *logger.Info",
                    i + 3
                ))
            }
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_expand_like_docker() {
        let info = TagInfo {
            id: "0123456789abcdef".repeat(4),
            name: "web".into(),
            image_id: format!("sha256:{}", "fedcba9876543210".repeat(4)),
            image_name: "busybox:latest".into(),
            ..Default::default()
        };
        assert_eq!(expand(None, DEFAULT, &info).unwrap(), "0123456789ab");
        assert_eq!(
            expand(Some("{{.Name}}/{{ .ID }}"), DEFAULT, &info).unwrap(),
            "web/0123456789ab"
        );
        assert_eq!(
            expand(Some("x-{{.ImageName}}-{{.ImageID}}"), DEFAULT, &info).unwrap(),
            "x-busybox:latest-fedcba987654"
        );
        assert_eq!(
            expand(Some("{{.FullID}}"), DEFAULT, &info).unwrap().len(),
            64
        );
        assert!(expand(Some("{{.Nope}}"), DEFAULT, &info)
            .unwrap_err()
            .contains("can't evaluate field Nope"));
        assert!(expand(Some("{{.Name"), DEFAULT, &info).is_err());
    }
}

//! `system df -v`: the per-object space usage tables Docker prints in verbose mode
//! (images, containers, local volumes with their sizes and links, build cache), from one
//! `GET /system/df` answer. The `volume` commands themselves live in `objects.rs`.

use serde_json::{json, Value};

use crate::errors::CliResult;
use crate::table::{self, Format, HeaderHooks, RowHooks};
use crate::units::human_size;

/// Renders one section's table with Docker's formatter row hooks.
fn section(
    template: &str,
    heads: &[(&str, &str)],
    rows: Vec<Value>,
    type_name: &'static str,
) -> Result<String, crate::errors::CliError> {
    let rows: Vec<(Value, Box<dyn berth_gotmpl::Hooks>)> = rows
        .into_iter()
        .map(|r| {
            let h: Box<dyn berth_gotmpl::Hooks> = Box::new(RowHooks {
                labels: None,
                type_name,
            });
            (r, h)
        })
        .collect();
    table::render(
        table::IMAGES_ERRORS,
        &Format::resolve(None, template),
        &table::headers(heads),
        &HeaderHooks,
        &rows,
    )
}

/// A volume of the df answer → its row (`Name`, `Links`, `Size`; `N/A` when unknown).
pub fn volume_row(v: &Value) -> Value {
    let usage = &v["UsageData"];
    json!({
        "Name": v["Name"].as_str().unwrap_or(""),
        "Links": usage["RefCount"].as_i64().filter(|n| *n >= 0)
            .map(|n| n.to_string()).unwrap_or_else(|| "N/A".into()),
        "Size": usage["Size"].as_i64().filter(|n| *n >= 0)
            .map(human_size).unwrap_or_else(|| "N/A".into()),
    })
}

/// Prints `system df -v` for the `GET /system/df` answer `d`.
pub fn df_verbose(d: &Value) -> CliResult {
    let arr = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    let images: Vec<Value> = arr("Images")
        .iter()
        .flat_map(|i| crate::images::image_rows(i, true, false))
        .collect();
    let containers: Vec<Value> = arr("Containers")
        .iter()
        .map(|c| crate::ps::row(c, true))
        .collect();
    let volumes: Vec<Value> = arr("Volumes").iter().map(volume_row).collect();
    let cache = arr("BuildCache");
    let cache_total: i64 = cache.iter().map(|b| b["Size"].as_i64().unwrap_or(0)).sum();

    let mut out = String::from("Images space usage:\n\n");
    out.push_str(&section(
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        &[
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("Size", "SIZE"),
            ("SharedSize", "SHARED SIZE"),
            ("UniqueSize", "UNIQUE SIZE"),
            ("Containers", "CONTAINERS"),
        ],
        images,
        "*formatter.imageContext",
    )?);
    out.push_str("\nContainers space usage:\n\n");
    out.push_str(&section(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("LocalVolumes", "LOCAL VOLUMES"),
            ("Size", "SIZE"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Names", "NAMES"),
        ],
        containers,
        "*formatter.ContainerContext",
    )?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    out.push_str(&section(
        "table {{.Name}}\t{{.Links}}\t{{.Size}}",
        &[
            ("Name", "VOLUME NAME"),
            ("Links", "LINKS"),
            ("Size", "SIZE"),
        ],
        volumes,
        "*formatter.volumeContext",
    )?);
    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size(cache_total)
    ));
    out.push_str(&table::tabwrite(
        "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n",
    ));
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_rows_show_size_and_links() {
        let v = json!({"Name": "big", "UsageData": {"Size": 150000, "RefCount": 2}});
        assert_eq!(
            volume_row(&v),
            json!({"Name": "big", "Links": "2", "Size": "150kB"})
        );
        let v = json!({"Name": "opt", "UsageData": {"Size": -1, "RefCount": 0}});
        assert_eq!(volume_row(&v)["Size"], "N/A");
        assert_eq!(volume_row(&json!({"Name": "x"}))["Links"], "N/A");
    }
}

//! Planner tests on projects built from YAML text.

use super::*;
use crate::{load, normalize, yaml};
use std::path::Path;

pub(crate) fn project(text: &str) -> Project {
    let mut doc = yaml::parse("t.yml", text).unwrap();
    crate::schema::validate(&doc).unwrap();
    normalize::file(&mut doc).unwrap();
    load::finalize(
        doc,
        "proj",
        Path::new("/srv/proj"),
        &Default::default(),
        &[],
        &[],
    )
    .unwrap()
}

const APP: &str = "services:
  web:
    image: busybox
    depends_on:
      app: {condition: service_started}
  app:
    image: busybox
    depends_on:
      db: {condition: service_healthy}
  db:
    image: busybox
    healthcheck: {test: [CMD, 'true']}
  lone:
    image: busybox
";

fn observed(p: &Project, service: &str, number: i64, state: &str) -> Observed {
    let s = &p.services[service];
    Observed {
        id: format!("{service}{number}id"),
        name: container_name(&p.name, s, number),
        service: service.into(),
        number,
        config_hash: service_hash(s),
        image: None,
        state: state.into(),
        oneoff: false,
    }
}

#[test]
fn fresh_project_creates_everything_in_dependency_order() {
    let p = project(APP);
    let plan = plan_up(&p, &[], &UpOptions::default()).unwrap();
    assert_eq!(plan.order, vec!["db", "app", "lone", "web"]);
    assert_eq!(
        plan.actions["web"],
        vec![Action::Create {
            number: 1,
            name: "proj-web-1".into()
        }]
    );
    assert!(plan.orphans.is_empty());
}

#[test]
fn unchanged_up_keeps_running_and_starts_stopped() {
    let p = project(APP);
    let obs = vec![
        observed(&p, "db", 1, "running"),
        observed(&p, "app", 1, "exited"),
        observed(&p, "web", 1, "running"),
        observed(&p, "lone", 1, "created"),
    ];
    let plan = plan_up(&p, &obs, &UpOptions::default()).unwrap();
    assert_eq!(plan.actions["db"], vec![Action::Keep(obs[0].clone())]);
    assert_eq!(plan.actions["app"], vec![Action::Start(obs[1].clone())]);
    assert_eq!(plan.actions["web"], vec![Action::Keep(obs[2].clone())]);
    assert_eq!(plan.actions["lone"], vec![Action::Start(obs[3].clone())]);
}

#[test]
fn a_changed_service_alone_is_recreated() {
    let old = project(APP);
    let obs: Vec<Observed> = ["db", "app", "web", "lone"]
        .iter()
        .map(|s| observed(&old, s, 1, "running"))
        .collect();
    let new = project(&APP.replace(
        "  app:\n    image: busybox\n",
        "  app:\n    image: busybox\n    environment: [X=1]\n",
    ));
    let plan = plan_up(&new, &obs, &UpOptions::default()).unwrap();
    let recreated: Vec<&String> = plan
        .actions
        .iter()
        .filter(|(_, a)| a.iter().any(|x| matches!(x, Action::Recreate { .. })))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(recreated, vec!["app"]);
    match &plan.actions["app"][0] {
        Action::Recreate { old, number, name } => {
            assert_eq!(
                (old.id.as_str(), *number, name.as_str()),
                ("app1id", 1, "proj-app-1")
            );
        }
        other => panic!("{other:?}"),
    }
    // --no-recreate keeps it; --force-recreate replaces all.
    let o = UpOptions {
        no_recreate: true,
        ..Default::default()
    };
    assert!(matches!(
        plan_up(&new, &obs, &o).unwrap().actions["app"][0],
        Action::Keep(_)
    ));
    let o = UpOptions {
        force_recreate: true,
        ..Default::default()
    };
    let plan = plan_up(&new, &obs, &o).unwrap();
    assert!(plan
        .actions
        .values()
        .all(|a| matches!(a[0], Action::Recreate { .. })));
}

#[test]
fn a_new_image_recreates() {
    let p = project(APP);
    let mut c = observed(&p, "lone", 1, "running");
    c.image = Some("sha256:old".into());
    let mut o = UpOptions::default();
    o.image_ids.insert("lone".into(), "sha256:new".into());
    let plan = plan_up(&p, &[c.clone()], &o).unwrap();
    assert!(matches!(plan.actions["lone"][0], Action::Recreate { .. }));
    o.image_ids.insert("lone".into(), "sha256:old".into());
    let plan = plan_up(&p, &[c], &o).unwrap();
    assert!(matches!(plan.actions["lone"][0], Action::Keep(_)));
}

#[test]
fn scale_up_and_down() {
    let p = project(APP);
    let obs = vec![
        observed(&p, "lone", 1, "running"),
        observed(&p, "lone", 2, "running"),
        observed(&p, "lone", 3, "running"),
    ];
    let mut o = UpOptions {
        services: vec!["lone".into()],
        ..Default::default()
    };
    o.scale.insert("lone".into(), 1);
    let plan = plan_up(&p, &obs, &o).unwrap();
    assert_eq!(plan.order, vec!["lone"]);
    assert_eq!(
        plan.actions["lone"],
        vec![
            Action::Remove(obs[2].clone()),
            Action::Remove(obs[1].clone()),
            Action::Keep(obs[0].clone())
        ]
    );
    o.scale.insert("lone".into(), 5);
    let plan = plan_up(&p, &obs, &o).unwrap();
    let created: Vec<String> = plan.actions["lone"]
        .iter()
        .filter_map(|a| match a {
            Action::Create { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(created, vec!["proj-lone-4", "proj-lone-5"]);
    let p2 = project("services:\n  s:\n    image: x\n    deploy: {replicas: 2}\n");
    let plan = plan_up(&p2, &[], &UpOptions::default()).unwrap();
    assert_eq!(plan.actions["s"].len(), 2);
}

#[test]
fn selection_pulls_dependencies_unless_no_deps() {
    let p = project(APP);
    let o = UpOptions {
        services: vec!["web".into()],
        ..Default::default()
    };
    assert_eq!(
        plan_up(&p, &[], &o).unwrap().order,
        vec!["db", "app", "web"]
    );
    let o = UpOptions {
        services: vec!["web".into()],
        no_deps: true,
        ..Default::default()
    };
    assert_eq!(plan_up(&p, &[], &o).unwrap().order, vec!["web"]);
    let o = UpOptions {
        services: vec!["nope".into()],
        ..Default::default()
    };
    assert_eq!(
        plan_up(&p, &[], &o).unwrap_err().to_string(),
        "no such service: nope"
    );
}

#[test]
fn orphans_and_oneoffs() {
    let p = project(APP);
    let mut gone = observed(&p, "db", 1, "running");
    gone.service = "old".into();
    let mut run = observed(&p, "db", 7, "running");
    run.oneoff = true;
    let plan = plan_up(&p, &[gone.clone(), run], &UpOptions::default()).unwrap();
    assert_eq!(plan.orphans, vec![gone]);
    assert_eq!(
        plan.actions["db"],
        vec![Action::Create {
            number: 1,
            name: "proj-db-1".into()
        }]
    );
}

#[test]
fn cycles_are_refused() {
    let p = project("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n");
    let e = plan_up(&p, &[], &UpOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(e, "dependency cycle detected: a -> b -> a");
}

#[test]
fn container_name_overrides() {
    let p = project("services:\n  s:\n    image: x\n    container_name: fixed\n  n:\n    image: x\n    network_mode: service:s\n");
    assert_eq!(container_name("proj", &p.services["s"], 1), "fixed");
    assert_eq!(dependencies(&p.services["n"]), vec!["s"]);
    assert_eq!(
        plan_up(&p, &[], &UpOptions::default()).unwrap().order,
        vec!["s", "n"]
    );
}

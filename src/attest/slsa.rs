//! The in-toto statement (v1) with a SLSA provenance v1 predicate for one platform's
//! image: subject the image manifest; the build definition is the canonical command,
//! the platform, the sources' repository and commit, and as resolved dependencies the
//! toolchain and rootfs (by digest), the apk packages and Go modules (by package URL)
//! and the source files (by digest); the builder is scratchpack's version. Times only
//! with `--provenance-times`, so the record stays reproducible otherwise.

use serde_json::{Value, json};

use super::{BuildRecord, Component, Context, Subject, apk_purl, go_purl, seconds};
use crate::image::spec::rfc3339;

pub const STATEMENT: &str = "https://in-toto.io/Statement/v1";
pub const PROVENANCE: &str = "https://slsa.dev/provenance/v1";

pub fn statement(context: &Context, record: Option<&BuildRecord>, subject: &Subject) -> Value {
    let mut external = json!({
        "command": context.command,
        "platform": subject.platform.to_string(),
    });
    if context.inputs.is_empty() {
        external["binary"] = json!(subject.binary.name);
    } else {
        external["sources"] = json!(context.inputs);
    }
    if let Some((uri, revision)) = &context.source {
        external["source"] = json!({"uri": uri, "digest": {"gitCommit": revision}});
    }
    let mut resolved = Vec::new();
    if let Some(r) = record {
        for c in r.toolchain.iter().chain(&r.rootfs) {
            resolved.push(component(c));
        }
        for p in r.packages.iter().chain(&r.target_packages) {
            resolved.push(json!({"name": p.name, "uri": apk_purl(p, &r.alpine)}));
        }
        for f in &r.sources {
            resolved.push(json!({
                "name": f.name,
                "uri": format!("file:{}", f.name.trim_start_matches("./")),
                "digest": {"sha256": f.sha256, "sha1": f.sha1},
            }));
        }
    }
    if let Some(go) = &subject.binary.go {
        for m in &go.deps {
            resolved.push(json!({"name": m.path, "uri": go_purl(&m.path, &m.version)}));
        }
    }
    let mut metadata = json!({});
    if let Some(started) = context.started {
        metadata["startedOn"] = json!(rfc3339(seconds(started)));
        metadata["finishedOn"] = json!(rfc3339(seconds(std::time::SystemTime::now())));
    }
    let version = env!("CARGO_PKG_VERSION");
    json!({
        "_type": STATEMENT,
        "subject": [{
            "name": context.reference,
            "digest": {"sha256": subject.manifest.hex},
        }],
        "predicateType": PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": format!("https://scratchpack.dev/buildtypes/{}/v1", context.kind),
                "externalParameters": external,
                "resolvedDependencies": resolved,
            },
            "runDetails": {
                "builder": {
                    "id": format!("pkg:generic/scratchpack@{version}"),
                    "version": {"scratchpack": version},
                },
                "metadata": metadata,
            },
        },
    })
}

fn component(c: &Component) -> Value {
    let mut d = json!({"name": c.name});
    if let Some(uri) = c.uri.as_ref().or(c.purl.as_ref()) {
        d["uri"] = json!(uri);
    }
    if let Some(sha) = &c.sha256 {
        d["digest"] = json!({"sha256": sha});
    }
    d
}

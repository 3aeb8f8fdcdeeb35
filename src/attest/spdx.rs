//! The SPDX 2.3 JSON document of one platform's image: the image, its binary (SHA-256,
//! SHA-1), the toolchain and the Alpine rootfs it was built with, every apk package of
//! the build's root (and of the target's), the Go modules the binary's build information
//! names, and the source files compiled. Relationships say how each relates to the
//! binary: built by, built with, statically linked, generated from.

use super::sources::hex;
use super::{ApkPackage, BuildRecord, Component, Context, Subject, apk_purl, go_purl};
use base64::Engine;
use serde_json::{Value, json};

const DOCUMENT: &str = "SPDXRef-DOCUMENT";
const IMAGE: &str = "SPDXRef-Image";
const BINARY: &str = "SPDXRef-Binary";

/// The document, deterministic for the same inputs.
pub fn document(context: &Context, record: Option<&BuildRecord>, subject: &Subject) -> Value {
    let mut doc = Doc::default();
    let name = &subject.binary.name;
    let go = subject.binary.go.as_ref();
    let arch = subject.platform.arch_with_variant();
    doc.package(json!({
        "SPDXID": IMAGE,
        "name": context.reference,
        "versionInfo": subject.manifest.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": subject.manifest.hex}],
        "externalRefs": [purl_ref(&format!(
            "pkg:oci/{}@{}?arch={}",
            super::purl_encode(image_name(&context.reference)),
            super::purl_encode(&subject.manifest.to_string()),
            super::purl_encode(&arch),
        ))],
    }));
    doc.relate(DOCUMENT, "DESCRIBES", IMAGE);
    doc.package(json!({
        "SPDXID": BINARY,
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "APPLICATION",
        "checksums": [
            {"algorithm": "SHA1", "checksumValue": subject.binary.sha1},
            {"algorithm": "SHA256", "checksumValue": subject.binary.sha256},
        ],
        "comment": format!("/usr/local/bin/{name} in the image, for {}", subject.platform),
    }));
    doc.relate(IMAGE, "CONTAINS", BINARY);
    if let Some(record) = record {
        if let Some(toolchain) = &record.toolchain {
            let id = doc.component("Toolchain", toolchain);
            doc.relate(&id, "BUILD_TOOL_OF", BINARY);
        }
        if let Some(rootfs) = &record.rootfs {
            let id = doc.component("Rootfs", rootfs);
            doc.relate(&id, "BUILD_TOOL_OF", BINARY);
        }
        for (packages, role) in [
            (&record.packages, "in the build's root filesystem"),
            (
                &record.target_packages,
                "installed for the target platform (headers and static libraries)",
            ),
        ] {
            for p in packages {
                let id = doc.apk(p, &record.alpine, role);
                doc.relate(&id, "BUILD_DEPENDENCY_OF", BINARY);
            }
        }
        for (i, file) in record.sources.iter().enumerate() {
            let id = format!("SPDXRef-Source-{}", i + 1);
            doc.files.push(json!({
                "SPDXID": id,
                "fileName": file.name,
                "fileTypes": ["SOURCE"],
                "checksums": [
                    {"algorithm": "SHA1", "checksumValue": file.sha1},
                    {"algorithm": "SHA256", "checksumValue": file.sha256},
                ],
            }));
            doc.relate(BINARY, "GENERATED_FROM", &id);
        }
    }
    if let Some(go) = go {
        let stdlib = super::Component {
            name: "stdlib".into(),
            version: go.go.clone(),
            uri: None,
            purl: Some(go_purl("stdlib", &go.go)),
            sha256: None,
        };
        let id = doc.component("Go", &stdlib);
        doc.relate(BINARY, "STATIC_LINK", &id);
        for m in go.main.iter().chain(&go.deps) {
            let module = super::Component {
                name: m.path.clone(),
                version: m.version.clone(),
                uri: None,
                purl: Some(go_purl(&m.path, &m.version)),
                sha256: h1_hex(&m.sum),
            };
            let id = doc.component("Go", &module);
            if let Some(p) = doc.packages.last_mut() {
                p["primaryPackagePurpose"] = json!("LIBRARY");
                if module.sha256.is_some() {
                    p["comment"] = json!(format!("go.sum {}", m.sum));
                }
            }
            doc.relate(BINARY, "STATIC_LINK", &id);
        }
    }
    let mut creation = json!({
        "created": crate::image::spec::rfc3339(context.epoch),
        "creators": [format!("Tool: scratchpack-{}", env!("CARGO_PKG_VERSION"))],
    });
    if record.is_some_and(|r| r.sources_truncated) {
        creation["comment"] = json!("the source files listed stop at 20000 files or 512 MiB");
    }
    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": DOCUMENT,
        "name": format!("{} ({})", context.reference, subject.platform),
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/scratchpack/{}/{}",
            arch.replace('/', "-"),
            subject.manifest.hex
        ),
        "creationInfo": creation,
        "packages": doc.packages,
        "relationships": doc.relationships,
    });
    if !doc.files.is_empty() {
        document["files"] = json!(doc.files);
    }
    document
}

#[derive(Default)]
struct Doc {
    packages: Vec<Value>,
    files: Vec<Value>,
    relationships: Vec<Value>,
    ids: usize,
}

impl Doc {
    fn next_id(&mut self, kind: &str) -> String {
        self.ids += 1;
        format!("SPDXRef-{kind}-{}", self.ids)
    }

    fn package(&mut self, p: Value) {
        self.packages.push(p);
    }

    fn relate(&mut self, a: &str, how: &str, b: &str) {
        self.relationships.push(json!({
            "spdxElementId": a,
            "relationshipType": how,
            "relatedSpdxElement": b,
        }));
    }

    fn component(&mut self, kind: &str, c: &Component) -> String {
        let id = self.next_id(kind);
        let mut p = json!({
            "SPDXID": id,
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": c.uri.as_deref().filter(|u| u.contains("://")).unwrap_or("NOASSERTION"),
            "filesAnalyzed": false,
        });
        if let Some(sha) = &c.sha256 {
            p["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": sha}]);
        }
        if let Some(purl) = &c.purl {
            p["externalRefs"] = json!([purl_ref(purl)]);
        }
        self.package(p);
        id
    }

    fn apk(&mut self, p: &ApkPackage, alpine: &str, role: &str) -> String {
        let id = self.next_id("Apk");
        let mut package = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "supplier": "Organization: Alpine Linux",
            "externalRefs": [purl_ref(&apk_purl(p, alpine))],
            "comment": format!("apk package {role}"),
        });
        match license(&p.license) {
            Some(l) => package["licenseDeclared"] = json!(l),
            None if !p.license.is_empty() => {
                package["licenseDeclared"] = json!("NOASSERTION");
                package["licenseComments"] = json!(format!("apk says: {}", p.license));
            }
            None => {}
        }
        self.package(package);
        id
    }
}

fn purl_ref(purl: &str) -> Value {
    json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    })
}

/// `registry/name:tag` to `name` (a package URL names the image without its registry).
fn image_name(reference: &str) -> &str {
    let without_tag = match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => reference,
    };
    without_tag.rsplit('/').next().unwrap_or(without_tag)
}

/// An apk license as an SPDX expression, when it reads as one (`MIT AND BSD-2-Clause`;
/// Alpine's lowercase operators raised); `None` otherwise.
fn license(apk: &str) -> Option<String> {
    let spaced = apk.replace('(', " ( ").replace(')', " ) ");
    let mut out = Vec::new();
    let mut operand = false;
    for token in spaced.split_whitespace() {
        match token {
            "and" | "AND" | "or" | "OR" | "with" | "WITH" if operand => {
                out.push(token.to_ascii_uppercase());
                operand = false;
            }
            "(" | ")" => out.push(token.to_string()),
            t if !operand
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.+".contains(&b)) =>
            {
                out.push(t.to_string());
                operand = true;
            }
            _ => return None,
        }
    }
    (operand && !out.is_empty()).then(|| out.join(" ").replace("( ", "(").replace(" )", ")"))
}

/// `h1:BASE64` (a SHA-256) as hex.
fn h1_hex(sum: &str) -> Option<String> {
    let b64 = sum.strip_prefix("h1:")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (bytes.len() == 32).then(|| hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_read_as_expressions_or_not_at_all() {
        assert_eq!(license("MIT").as_deref(), Some("MIT"));
        assert_eq!(
            license("MIT and BSD-2-Clause").as_deref(),
            Some("MIT AND BSD-2-Clause")
        );
        assert_eq!(
            license("(MIT OR Apache-2.0) AND Zlib").as_deref(),
            Some("(MIT OR Apache-2.0) AND Zlib")
        );
        assert_eq!(
            license("GPL-2.0-or-later WITH Classpath-exception-2.0").as_deref(),
            Some("GPL-2.0-or-later WITH Classpath-exception-2.0")
        );
        assert_eq!(license("custom:foo"), None);
        assert_eq!(license("MIT AND"), None);
        assert_eq!(license(""), None);
        assert_eq!(image_name("localhost:5000/team/app:v1"), "app");
        assert_eq!(image_name("hello:latest"), "hello");
        assert!(
            h1_hex("h1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=")
                .is_some_and(|h| h.len() == 64)
        );
        assert_eq!(h1_hex("h1:short"), None);
    }
}

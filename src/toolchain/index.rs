//! Reading a Python package index's simple page (PEP 691 JSON or PEP 503 HTML), as
//! written by whoever runs the index: which link is the file with a given sha256, and
//! that link resolved against the page. Used to fetch a pinned wheel when there is no
//! pip; the file itself is checked against the pin after the download.

/// The URL of the file with `sha256` on a simple index page: PEP 691 JSON (`files`
/// with `hashes`), else PEP 503 HTML (`href="URL#sha256=HEX"`).
pub fn wheel_url(page: &str, sha256: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(page) {
        return json["files"]
            .as_array()?
            .iter()
            .find(|f| f["hashes"]["sha256"] == sha256)?["url"]
            .as_str()
            .map(str::to_string);
    }
    let end = page.find(&format!("#sha256={sha256}"))?;
    let start = page[..end].rfind("href=\"")? + "href=\"".len();
    Some(page[start..end].replace("&amp;", "&"))
}

/// `url` as found on the page at `base`: absolute, host-absolute or relative.
pub fn join_url(base: &str, url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    let Some(scheme_end) = base.find("://") else {
        return url.to_string();
    };
    let after = scheme_end + 3;
    let host_end = base[after..].find('/').map_or(base.len(), |i| after + i);
    if url.starts_with('/') {
        return format!("{}{url}", &base[..host_end]);
    }
    // Relative: resolved against the page's directory, `..` popping segments.
    let mut parts: Vec<&str> = base[host_end..].split('/').collect();
    parts.pop();
    for part in url.split('/') {
        match part {
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            "." => {}
            other => parts.push(other),
        }
    }
    format!("{}{}", &base[..host_end], parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54";

    #[test]
    fn the_pinned_wheel_is_found_on_json_and_html_pages() {
        let json = format!(
            r#"{{"files":[{{"filename":"a.whl","url":"https://x/a.whl","hashes":{{"sha256":"00"}}}},
                {{"filename":"z.whl","url":"https://files/z.whl","hashes":{{"sha256":"{SHA}"}}}}]}}"#
        );
        assert_eq!(wheel_url(&json, SHA).unwrap(), "https://files/z.whl");
        let html = format!(
            r#"<a href="../../p/a.whl#sha256=00">a</a><a href="../../p/z.whl?x=1&amp;y=2#sha256={SHA}">z</a>"#
        );
        assert_eq!(wheel_url(&html, SHA).unwrap(), "../../p/z.whl?x=1&y=2");
        assert_eq!(wheel_url("<html></html>", SHA), None);
        assert_eq!(wheel_url(r#"{"files": []}"#, SHA), None);
    }

    #[test]
    fn links_are_resolved_against_the_page() {
        let page = "https://idx.example/root/simple/ziglang/";
        assert_eq!(join_url(page, "https://f/z.whl"), "https://f/z.whl");
        assert_eq!(join_url(page, "/p/z.whl"), "https://idx.example/p/z.whl");
        assert_eq!(
            join_url(page, "../../p/z.whl"),
            "https://idx.example/root/p/z.whl"
        );
        assert_eq!(
            join_url(page, "z.whl"),
            "https://idx.example/root/simple/ziglang/z.whl"
        );
        assert_eq!(
            join_url(page, "../../../../../z.whl"),
            "https://idx.example/z.whl"
        );
    }
}

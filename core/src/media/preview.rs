//! URL previews (GET /preview_url): the page's OpenGraph title and
//! description, fetched by the server. Off unless configured.
//!
//! The server fetches what users name, so it must not become their way
//! into the operator's network: every address the host resolves to is
//! checked, the connection goes to a checked address (never resolved
//! again), redirects are followed by hand and checked the same way, no
//! proxy is used, and only the first `max_page_bytes` of a page are read.

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::Url;
use serde_json::{Map, Value};

use crate::outbound;
use crate::settings::UrlPreviewSettings;
use crate::{Error, Homeserver, Result};

/// The OpenGraph fields of a page, as /preview_url answers them.
pub type UrlPreview = Map<String, Value>;

const MAX_REDIRECTS: usize = 5;
/// Longest value kept of a field.
const MAX_FIELD_CHARS: usize = 1000;

impl Homeserver {
    pub async fn preview_url(&self, url: &str) -> Result<UrlPreview> {
        let settings = self
            .settings
            .media
            .url_preview
            .as_ref()
            .ok_or_else(|| Error::Forbidden("URL previews are off on this server".into()))?;
        let mut url = Url::parse(url)
            .map_err(|e| Error::InvalidParam(format!("{url:?} is not a URL: {e}")))?;
        for _ in 0..=MAX_REDIRECTS {
            let response = fetch(&url, settings).await?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .ok_or_else(|| Error::Unknown(format!("{url} redirects nowhere")))?;
                url = url
                    .join(location)
                    .map_err(|e| Error::Unknown(format!("{url} redirects to a bad URL: {e}")))?;
                continue;
            }
            if !response.status().is_success() {
                return Err(Error::Unknown(format!(
                    "{url} answered {}",
                    response.status()
                )));
            }
            let is_html = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.to_ascii_lowercase().contains("html"));
            if !is_html {
                return Ok(UrlPreview::new());
            }
            let page = read_capped(response, settings.max_page_bytes).await?;
            return Ok(opengraph(&String::from_utf8_lossy(&page)));
        }
        Err(Error::Unknown(format!(
            "{url}: more than {MAX_REDIRECTS} redirects"
        )))
    }
}

/// One request to `url`, without following redirects, connecting only to
/// addresses that passed [`check_address`].
async fn fetch(url: &Url, settings: &UrlPreviewSettings) -> Result<reqwest::Response> {
    let client = outbound::client_for(
        url,
        settings.allow_private_addresses,
        settings.timeout,
        "Hanse URL preview",
    )
    .await?;
    client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| Error::Unknown(format!("fetching {url}: {e}")))
}

/// The body's first `max` bytes.
async fn read_capped(mut response: reqwest::Response, max: u64) -> Result<Vec<u8>> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut page = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::Unknown(format!("reading the page: {e}")))?
    {
        let room = max - page.len();
        page.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if page.len() >= max {
            break;
        }
    }
    Ok(page)
}

/// The OpenGraph fields of an HTML page (`og:*` meta tags but images, which
/// would have to be fetched and stored), with the page's title and
/// description as fallbacks.
pub fn opengraph(html: &str) -> UrlPreview {
    let mut preview = UrlPreview::new();
    let mut title = None;
    let mut description = None;
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "meta" => {
                let attributes = attributes(&tag[4..]);
                let key = attributes
                    .iter()
                    .find(|(k, _)| k == "property" || k == "name")
                    .map(|(_, v)| v.to_ascii_lowercase());
                let content = attributes.iter().find(|(k, _)| k == "content");
                if let (Some(key), Some((_, content))) = (key, content) {
                    if key.starts_with("og:") && !key.starts_with("og:image") {
                        preview
                            .entry(key)
                            .or_insert_with(|| Value::String(field(content)));
                    } else if key == "description" {
                        description.get_or_insert_with(|| field(content));
                    }
                }
            }
            "title" if title.is_none() => {
                let text_end = rest
                    .to_ascii_lowercase()
                    .find("</title")
                    .unwrap_or(rest.len());
                let text = rest.get(end + 1..text_end).unwrap_or_default();
                title = Some(field(&decode_entities(text.trim())));
            }
            _ => {}
        }
        rest = rest.get(end..).unwrap_or_default();
    }
    if let Some(title) = title.filter(|t| !t.is_empty()) {
        preview
            .entry("og:title")
            .or_insert_with(|| Value::String(title));
    }
    if let Some(description) = description {
        preview
            .entry("og:description")
            .or_insert_with(|| Value::String(description));
    }
    preview
}

fn field(value: &str) -> String {
    value.chars().take(MAX_FIELD_CHARS).collect()
}

/// The attributes of a tag's inside (after its name), names lowercased,
/// values with entities decoded.
fn attributes(mut tag: &str) -> Vec<(String, String)> {
    let mut attributes = Vec::new();
    loop {
        tag = tag.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        let name_end = tag
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(tag.len());
        if name_end == 0 {
            return attributes;
        }
        let name = tag[..name_end].to_ascii_lowercase();
        tag = tag[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = tag.strip_prefix('=') {
            let after = after.trim_start();
            let (raw, rest) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let inner = &after[1..];
                    let close = inner.find(quote).unwrap_or(inner.len());
                    (&inner[..close], inner.get(close + 1..).unwrap_or_default())
                }
                _ => {
                    let close = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..close], &after[close..])
                }
            };
            value = decode_entities(raw);
            tag = rest;
        }
        attributes.push((name, value));
    }
}

/// Decodes the character references pages commonly use in titles.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|&end| end <= 10);
        let decoded = end.and_then(|end| {
            let entity = &rest[1..end];
            let named = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => None,
            };
            named.or_else(|| {
                let number = entity.strip_prefix('#')?;
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => number.parse().ok()?,
                };
                char::from_u32(code)
            })
        });
        match (decoded, end) {
            (Some(c), Some(end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opengraph_fields_and_fallbacks() {
        let page = r#"<html><head><TITLE>Fallback &amp; title</TITLE>
            <meta property="og:title" content="The &quot;Hanse&quot;">
            <meta name='description' content='A description'>
            <meta property=og:type content=website />
            <meta property="og:image" content="http://10.0.0.1/x.png">
            </head><body><meta property="og:title" content="second"></body></html>"#;
        let preview = opengraph(page);
        assert_eq!(preview["og:title"], "The \"Hanse\"");
        assert_eq!(preview["og:description"], "A description");
        assert_eq!(preview["og:type"], "website");
        assert!(preview.get("og:image").is_none());
        let bare = opengraph("<title>Only &#x48;&#101;re</title>");
        assert_eq!(bare["og:title"], "Only Here");
        assert!(opengraph("no tags & <unclosed").is_empty());
    }
}

//! The content repository: uploads (POST /upload, POST /create + PUT
//! /upload/{serverName}/{mediaId}), downloads, thumbnails, URL previews and
//! the repository's configuration, authenticated under
//! /_matrix/client/v1/media and, deprecated and frozen, under
//! /_matrix/media/v3.

pub mod download;
pub mod preview;
pub mod thumbnail;
pub mod upload;

use std::time::Duration;

use actix_files::NamedFile;
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
    HeaderValue,
};
use actix_web::mime::Mime;
use actix_web::{HttpRequest, HttpResponse};
use hanse_core::media::StoredMedia;
use hanse_http::MatrixError;
use serde::Deserialize;

/// Where uploads are received: their bodies are streamed to disk under
/// the media upload limit, not read under the JSON body limit.
pub const UPLOAD_PATH_PREFIX: &str = "/_matrix/media/v3/upload";

/// The policy the spec recommends for served media: nothing in it runs.
const CONTENT_SECURITY_POLICY: &str = "sandbox; default-src 'none'; script-src 'none'; \
     plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';";

/// How long a download waits for a pending upload unless told.
const DEFAULT_TIMEOUT_MS: u64 = 20_000;

/// `timeout_ms`, as downloads and thumbnails take it.
#[derive(Debug, Deserialize)]
pub struct Wait {
    timeout_ms: Option<u64>,
}

impl Wait {
    fn from_ms(timeout_ms: Option<u64>) -> Self {
        Self { timeout_ms }
    }

    fn duration(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))
    }
}

/// Streams a stored file with the headers the spec asks for: its content
/// type, a disposition (`inline` only when `inline`) naming `filename`,
/// and a sandboxing content security policy.
async fn serve(
    req: &HttpRequest,
    media: StoredMedia,
    inline: bool,
    filename: Option<String>,
) -> Result<HttpResponse, MatrixError> {
    let file = NamedFile::open_async(&media.path).await.map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            // Deleted between the lookup and now.
            MatrixError::not_found("no such media")
        } else {
            tracing::error!(path = %media.path.display(), %error, "opening a media file");
            MatrixError::internal()
        }
    })?;
    let content_type = media
        .content_type
        .parse::<Mime>()
        .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
    let disposition = ContentDisposition {
        disposition: if inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: filename.map(filename_parameter).into_iter().collect(),
    };
    let mut response = file
        .set_content_type(content_type)
        .set_content_disposition(disposition)
        .use_last_modified(false)
        .prefer_utf8(false)
        .into_response(req);
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::CROSS_ORIGIN_RESOURCE_POLICY, "cross-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Ok(response)
}

/// `filename="..."`, or `filename*=UTF-8''...` for names beyond ASCII.
fn filename_parameter(name: String) -> DispositionParam {
    if name.is_ascii() {
        DispositionParam::Filename(name)
    } else {
        DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: name.into_bytes(),
        })
    }
}

//! The media repository over HTTP against a real server, database and
//! media directory: uploads and downloads byte for byte, thumbnails,
//! asynchronous uploads, the refusals that must leave nothing behind,
//! deletion (in process and through the admin CLI), and URL previews.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::process::{ExternalDatabase, HanseProcess, SERVER_NAME};
use common::user;
use hanse_core::media::Mxc;
use hanse_core::MediaSettings;
use hanse_sdk::Client;
use hanse_server::testing::{TestOptions, TestServer};
use image::codecs::gif::{GifDecoder, GifEncoder};
use image::codecs::png::PngEncoder;
use image::{AnimationDecoder, Frame, ImageEncoder, RgbaImage};
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MEDIA_V3: &str = "/_matrix/media/v3";
const MEDIA_V1: &str = "/_matrix/client/v1/media";
const CSP: &str = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; \
                   style-src 'unsafe-inline'; object-src 'self';";

/// A server whose media settings `change` adjusts.
async fn server_with(change: impl FnOnce(&mut MediaSettings)) -> TestServer {
    let mut options = TestOptions::default();
    change(&mut options.settings.media);
    TestServer::start_with(options).await
}

/// A logged-in user's raw HTTP access to the media endpoints.
struct Media {
    http: reqwest::Client,
    base: String,
    token: String,
    client: Client,
}

impl Media {
    async fn new(server: &TestServer, name: &str) -> Self {
        let (client, login) = user(server, name).await;
        Self {
            http: reqwest::Client::new(),
            base: server.client_url.clone(),
            token: login.access_token,
            client,
        }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// POST /upload; (status, JSON answer).
    async fn upload(&self, body: Vec<u8>, content_type: &str, query: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{MEDIA_V3}/upload{query}", self.base))
            .bearer_auth(&self.token)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("upload request");
        json_answer(response).await
    }

    /// Uploads and returns the mxc URI.
    async fn upload_ok(&self, body: &[u8], content_type: &str) -> String {
        self.client
            .upload(body.to_vec(), content_type, None)
            .await
            .expect("upload")
    }

    /// GET of an mxc URI's download (path `rest` after it, e.g. a file
    /// name or a query).
    async fn download(&self, mxc: &str, rest: &str) -> reqwest::Response {
        let path = mxc.strip_prefix("mxc://").expect("an mxc URI");
        self.get(&format!("{MEDIA_V1}/download/{path}{rest}"))
            .send()
            .await
            .expect("download request")
    }

    async fn thumbnail(&self, mxc: &str, query: &str) -> reqwest::Response {
        let path = mxc.strip_prefix("mxc://").expect("an mxc URI");
        self.get(&format!("{MEDIA_V1}/thumbnail/{path}?{query}"))
            .send()
            .await
            .expect("thumbnail request")
    }
}

async fn json_answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let value = response.json().await.unwrap_or(Value::Null);
    (status, value)
}

/// Asserts a Matrix error answer.
async fn assert_error(response: reqwest::Response, status: u16, errcode: &str) {
    let (got, body) = json_answer(response).await;
    assert_eq!(
        (got.as_u16(), body["errcode"].as_str().unwrap_or_default()),
        (status, errcode),
        "{body}"
    );
}

/// 404: M_NOT_FOUND, or M_UNRECOGNIZED where the client resolved a `%2E%2E`
/// segment itself and the path names no endpoint any more.
async fn assert_not_found(response: reqwest::Response, path: &str) {
    let (status, body) = json_answer(response).await;
    let errcode = body["errcode"].as_str().unwrap_or_default();
    assert!(
        status == 404 && ["M_NOT_FOUND", "M_UNRECOGNIZED"].contains(&errcode),
        "{path}: {status} {body}"
    );
}

fn header(response: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
        .unwrap_or_default()
}

/// Every file under the server's media directory, relative to it.
fn stored_files(server: &TestServer) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, files: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, root, files);
            } else {
                files.push(path.strip_prefix(root).expect("under root").to_owned());
            }
        }
    }
    let root = server.data_dir.path().join("media");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    files
}

async fn count(server: &TestServer, sql: &str) -> i64 {
    server.query(sql).await[0].get(0)
}

/// Deterministic bytes that do not compress or repeat.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x % 251) as u8, (y % 241) as u8, ((x + y) % 7) as u8, 255])
    });
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(&image, width, height, image::ExtendedColorType::Rgba8)
        .expect("encode PNG");
    bytes
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut bytes)
        .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
        .expect("encode JPEG");
    bytes
}

fn animated_gif(width: u32, height: u32, frames: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        for i in 0..frames {
            let image = RgbaImage::from_fn(width, height, |x, _| {
                image::Rgba([i.wrapping_mul(80), (x % 256) as u8, 0, 255])
            });
            encoder.encode_frame(Frame::new(image)).expect("frame");
        }
    }
    bytes
}

/// CRC-32 as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid small PNG whose header claims `width` x `height`.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = png(4, 4);
    // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// Sends `request` on a raw connection, closes the sending side, and
/// returns whatever the server answered (perhaps nothing).
async fn raw_exchange(base_url: &str, request: &[u8]) -> String {
    let address = base_url.strip_prefix("http://").expect("http URL");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(request).await.expect("send");
    stream.shutdown().await.expect("close the sending side");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn uploads_come_back_byte_for_byte_with_safe_headers() {
    let server = TestServer::start().await;
    let alice = Media::new(&server, "alice").await;

    for (len, seed) in [(0, 1), (1, 2), (10 * 1024 * 1024, 3)] {
        let body = pseudo_random(len, seed);
        let (status, answer) = alice
            .upload(
                body.clone(),
                "application/octet-stream",
                "?filename=blob.bin",
            )
            .await;
        assert_eq!(status, 200, "{len} bytes: {answer}");
        let mxc = answer["content_uri"].as_str().expect("content_uri");
        let prefix = format!("mxc://{}/", server.homeserver.identity.server_name);
        assert!(mxc.starts_with(&prefix), "{mxc}");

        let response = alice.download(mxc, "").await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, CONTENT_TYPE), "application/octet-stream");
        assert_eq!(
            header(&response, CONTENT_DISPOSITION),
            "attachment; filename=\"blob.bin\""
        );
        assert_eq!(header(&response, "content-security-policy"), CSP);
        assert_eq!(
            header(&response, "cross-origin-resource-policy"),
            "cross-origin"
        );
        let downloaded = response.bytes().await.expect("body");
        assert!(downloaded[..] == body[..], "{len} bytes differ");
    }

    // The same bytes again: a new URI, the same file.
    let files_before = stored_files(&server);
    let again = alice.upload_ok(&pseudo_random(1, 2), "text/plain").await;
    assert_eq!(stored_files(&server), files_before, "stored once");
    assert_eq!(files_before.len(), 3, "{files_before:?}");

    // Safe types are inline; others, attachments; a file name in the path
    // replaces the uploaded one.
    let response = alice.download(&again, "/notes%20%C3%A4.txt").await;
    assert_eq!(
        header(&response, CONTENT_DISPOSITION),
        "inline; filename*=UTF-8''notes%20%C3%A4.txt"
    );
    assert_eq!(header(&response, CONTENT_TYPE), "text/plain");
    let html = alice
        .upload_ok(b"<script>alert(1)</script>", "text/html")
        .await;
    let response = alice.download(&html, "").await;
    assert_eq!(header(&response, CONTENT_DISPOSITION), "attachment");
    assert_eq!(header(&response, CONTENT_TYPE), "text/html");

    // Authentication is required; the deprecated unauthenticated paths are
    // frozen for media uploaded now.
    let path = html.strip_prefix("mxc://").expect("mxc");
    let anonymous = reqwest::Client::new();
    for url in [
        format!("{}{MEDIA_V1}/download/{path}", server.client_url),
        format!(
            "{}{MEDIA_V1}/thumbnail/{path}?width=32&height=32",
            server.client_url
        ),
    ] {
        let response = anonymous.get(&url).send().await.expect("request");
        assert_error(response, 401, "M_MISSING_TOKEN").await;
    }
    for legacy in [
        format!("{MEDIA_V3}/download/{path}"),
        format!("{MEDIA_V3}/download/{path}/name.html"),
        format!("{MEDIA_V3}/thumbnail/{path}?width=32&height=32"),
    ] {
        let url = format!("{}{legacy}", server.client_url);
        let response = anonymous.get(&url).send().await.expect("request");
        assert_error(response, 404, "M_NOT_FOUND").await;
    }

    let config: Value = alice
        .client
        .get(&format!("{MEDIA_V1}/config"))
        .await
        .expect("config");
    assert_eq!(config["m.upload.size"], 50 * 1024 * 1024);
}

#[tokio::test]
async fn thumbnails_crop_exactly_scale_within_and_are_cached() {
    let server = TestServer::start().await;
    let alice = Media::new(&server, "alice").await;
    let wide = alice.upload_ok(&png(1000, 500), "image/png").await;

    for (query, size) in [
        ("width=96&height=96&method=crop", (96, 96)),
        ("width=32&height=32&method=crop", (32, 32)),
        // Rounded up to the next standard crop size.
        ("width=50&height=40&method=crop", (96, 96)),
        ("width=640&height=480&method=scale", (640, 320)),
        ("width=320&height=240&method=scale", (320, 160)),
        // Not a standard size: made as asked, within the box.
        ("width=900&height=900&method=scale", (900, 450)),
    ] {
        let response = alice.thumbnail(&wide, query).await;
        assert_eq!(response.status(), 200, "{query}");
        assert_eq!(header(&response, CONTENT_TYPE), "image/png", "{query}");
        assert!(
            header(&response, CONTENT_DISPOSITION).starts_with("inline"),
            "{query}"
        );
        assert_eq!(header(&response, "content-security-policy"), CSP);
        let image = image::load_from_memory(&response.bytes().await.expect("body"))
            .expect("a thumbnail decodes");
        assert_eq!((image.width(), image.height()), size, "{query}");
    }
    assert_eq!(
        count(&server, "SELECT count(*) FROM media_thumbnails").await,
        5,
        "the two 32/96 crops and 50x40 share the 96x96 one"
    );
    let files = stored_files(&server).len();
    let again = alice
        .thumbnail(&wide, "width=96&height=96&method=crop")
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(stored_files(&server).len(), files, "served from the cache");

    // Larger than the image: the image itself, never scaled up.
    let original = png(1000, 500);
    let response = alice
        .thumbnail(&wide, "width=2000&height=2000&method=scale")
        .await;
    assert_eq!(response.bytes().await.expect("body")[..], original[..]);

    // JPEG stays JPEG.
    let photo = alice.upload_ok(&jpeg(800, 600), "image/jpeg").await;
    let response = alice
        .thumbnail(&photo, "width=96&height=96&method=crop")
        .await;
    assert_eq!(header(&response, CONTENT_TYPE), "image/jpeg");
    let image = image::load_from_memory(&response.bytes().await.expect("body")).expect("decodes");
    assert_eq!((image.width(), image.height()), (96, 96));

    // Animated where asked: an animated GIF thumbnail of an animated GIF.
    let gif = alice
        .upload_ok(&animated_gif(300, 200, 3), "image/gif")
        .await;
    let response = alice
        .thumbnail(&gif, "width=96&height=96&method=crop&animated=true")
        .await;
    assert_eq!(header(&response, CONTENT_TYPE), "image/gif");
    let frames = GifDecoder::new(Cursor::new(response.bytes().await.expect("body")))
        .expect("GIF")
        .into_frames()
        .collect_frames()
        .expect("frames");
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].buffer().dimensions(), (96, 96));
    let response = alice
        .thumbnail(&gif, "width=96&height=96&method=crop")
        .await;
    assert_eq!(
        header(&response, CONTENT_TYPE),
        "image/png",
        "static unless asked"
    );

    let response = alice.thumbnail(&wide, "width=0&height=10").await;
    assert_error(response, 400, "M_INVALID_PARAM").await;
    let response = alice
        .thumbnail(&wide, "width=10&height=10&method=stretch")
        .await;
    assert_error(response, 400, "M_INVALID_PARAM").await;
}

#[tokio::test]
async fn images_that_cannot_be_thumbnailed_are_refused_and_leave_nothing() {
    let server = server_with(|media| media.max_thumbnail_source_pixels = 4_000_000).await;
    let alice = Media::new(&server, "alice").await;
    let mut truncated = png(200, 200);
    truncated.truncate(truncated.len() / 2);
    let truncated = alice.upload_ok(&truncated, "image/png").await;
    let bomb = alice
        .upload_ok(&png_claiming(60_000, 60_000), "image/png")
        .await;
    let text = alice.upload_ok(b"not an image", "image/png").await;
    let over_budget = alice.upload_ok(&png(2100, 2000), "image/png").await;
    let files = stored_files(&server);

    for (mxc, status, errcode) in [
        (&truncated, 400, "M_UNKNOWN"),
        (&bomb, 413, "M_TOO_LARGE"),
        (&text, 400, "M_UNKNOWN"),
        (&over_budget, 413, "M_TOO_LARGE"),
    ] {
        for method in ["crop", "scale"] {
            let query = format!("width=32&height=32&method={method}");
            let response = alice.thumbnail(mxc, &query).await;
            assert_error(response, status, errcode).await;
        }
    }
    assert_eq!(
        count(&server, "SELECT count(*) FROM media_thumbnails").await,
        0
    );
    assert_eq!(
        stored_files(&server),
        files,
        "no thumbnail files, no leftovers"
    );
    // The uploads themselves are the users' bytes, served as they are.
    let response = alice.download(&text, "").await;
    assert_eq!(&response.bytes().await.expect("body")[..], b"not an image");
}

#[tokio::test]
async fn asynchronous_uploads_fill_a_created_uri_once() {
    let server = server_with(|media| media.max_pending_uploads = 3).await;
    let alice = Media::new(&server, "alice").await;
    let bob = Media::new(&server, "bob").await;

    let created: Value = alice
        .client
        .post("/_matrix/media/v1/create", &serde_json::json!({}))
        .await
        .expect("create");
    let mxc = created["content_uri"]
        .as_str()
        .expect("content_uri")
        .to_owned();
    let expires = created["unused_expires_at"]
        .as_i64()
        .expect("unused_expires_at");
    let now = hanse_core::clock::now_ms();
    assert!(
        (now + 23 * 3600 * 1000..=now + 25 * 3600 * 1000).contains(&expires),
        "{expires}"
    );

    // Not there yet.
    let response = alice.download(&mxc, "?timeout_ms=100").await;
    assert_error(response, 504, "M_NOT_YET_UPLOADED").await;

    // A download waiting for it gets it once it arrives.
    let waiting = {
        let (http, url, token) = (
            alice.http.clone(),
            format!(
                "{}{MEDIA_V1}/download/{}?timeout_ms=10000",
                server.client_url,
                mxc.strip_prefix("mxc://").expect("mxc")
            ),
            alice.token.clone(),
        );
        tokio::spawn(async move {
            let response = http.get(url).bearer_auth(token).send().await.expect("wait");
            (response.status(), response.bytes().await.expect("body"))
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let put = |media: &Media, mxc: &str, body: &'static [u8]| {
        let url = format!(
            "{}{MEDIA_V3}/upload/{}?filename=late.txt",
            media.base,
            mxc.strip_prefix("mxc://").expect("mxc")
        );
        media
            .http
            .put(url)
            .bearer_auth(&media.token)
            .header(CONTENT_TYPE, "text/plain")
            .body(body)
            .send()
    };
    let response = put(&bob, &mxc, b"bob's").await.expect("put");
    assert_error(response, 403, "M_FORBIDDEN").await;
    let response = put(&alice, &mxc, b"late content").await.expect("put");
    let (status, body) = json_answer(response).await;
    assert_eq!((status.as_u16(), body), (200, serde_json::json!({})));
    let (status, bytes) = waiting.await.expect("the waiting download");
    assert_eq!((status.as_u16(), &bytes[..]), (200, &b"late content"[..]));

    let response = put(&alice, &mxc, b"again").await.expect("put");
    assert_error(response, 409, "M_CANNOT_OVERWRITE_MEDIA").await;
    let response = alice.download(&mxc, "").await;
    assert_eq!(
        header(&response, CONTENT_DISPOSITION),
        "inline; filename=\"late.txt\""
    );

    // Never created, or not a media ID at all.
    let unknown = format!(
        "mxc://{}/NeverCreated",
        server.homeserver.identity.server_name
    );
    let response = put(&alice, &unknown, b"x").await.expect("put");
    assert_error(response, 404, "M_NOT_FOUND").await;

    // Pending uploads per user are limited.
    for _ in 0..3 {
        let _: Value = alice
            .client
            .post("/_matrix/media/v1/create", &serde_json::json!({}))
            .await
            .expect("create");
    }
    let refused = alice
        .client
        .post::<Value>("/_matrix/media/v1/create", &serde_json::json!({}))
        .await
        .expect_err("a fourth pending upload");
    assert_eq!(refused.errcode(), Some("M_LIMIT_EXCEEDED"));
    let _: Value = bob
        .client
        .post("/_matrix/media/v1/create", &serde_json::json!({}))
        .await
        .expect("bob has his own allowance");
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    const LIMIT: usize = 64 * 1024;
    let server = server_with(|media| {
        media.max_upload_bytes = LIMIT as u64;
        media.quota_bytes_per_user = Some(100 * 1024);
    })
    .await;
    let alice = Media::new(&server, "alice").await;
    let server_name = server.homeserver.identity.server_name.to_string();

    // Over the limit, declared.
    let (status, body) = alice.upload(vec![7; LIMIT + 1], "text/plain", "").await;
    assert_eq!(
        (status.as_u16(), &body["errcode"]),
        (413, &Value::from("M_TOO_LARGE"))
    );
    // Over the limit, chunked (no length to check in advance).
    let mut chunked = format!(
        "POST {MEDIA_V3}/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
        alice.token
    )
    .into_bytes();
    for _ in 0..17 {
        chunked.extend_from_slice(format!("{:x}\r\n", 4096).as_bytes());
        chunked.extend_from_slice(&[b'c'; 4096]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_exchange(&server.client_url, &chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("M_TOO_LARGE"), "{answer}");
    // A body shorter than its Content-Length: the connection ends first.
    let short = format!(
        "POST {MEDIA_V3}/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/plain\r\nContent-Length: 5000\r\n\r\n{}",
        alice.token,
        "s".repeat(3000)
    );
    let answer = raw_exchange(&server.client_url, short.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("M_UNKNOWN"), "{answer}");

    // File names that are paths.
    for filename in ["../../etc/passwd", "a%2Fb", "..", "a%5Cb", "x%0Ay"] {
        let (status, body) = alice
            .upload(
                b"x".to_vec(),
                "text/plain",
                &format!("?filename={filename}"),
            )
            .await;
        assert_eq!(
            (status.as_u16(), body["errcode"].as_str()),
            (400, Some("M_INVALID_PARAM")),
            "{filename}: {body}"
        );
    }
    // Media IDs and server names that are not.
    for path in [
        format!("{server_name}/..%2F..%2Fetc%2Fpasswd"),
        format!("{server_name}/%2E%2E"),
        format!("{server_name}/a.b"),
        format!("{server_name}/%C3%A4"),
        "other.example/abcdef".to_owned(),
        "bad%20name/abcdef".to_owned(),
        "..%2F../abcdef".to_owned(),
    ] {
        let response = alice
            .http
            .put(format!("{}{MEDIA_V3}/upload/{path}", server.client_url))
            .bearer_auth(&alice.token)
            .body("x")
            .send()
            .await
            .expect("put");
        assert_not_found(response, &path).await;
        let response = alice
            .get(&format!("{MEDIA_V1}/download/{path}"))
            .send()
            .await
            .expect("get");
        assert_not_found(response, &path).await;
    }
    let response = alice
        .download(&format!("mxc://{server_name}/abcdef"), "/..%2F..%2Fx")
        .await;
    assert!(response.status().is_client_error(), "{}", response.status());

    assert_eq!(count(&server, "SELECT count(*) FROM media").await, 0);
    assert_eq!(
        stored_files(&server),
        Vec::<PathBuf>::new(),
        "nothing stored"
    );

    // The quota: 60 KiB fits, another 60 KiB does not.
    alice.upload_ok(&vec![1; 60 * 1024], "text/plain").await;
    let (status, body) = alice.upload(vec![2; 60 * 1024], "text/plain", "").await;
    assert_eq!(
        (status.as_u16(), &body["errcode"]),
        (403, &Value::from("M_FORBIDDEN")),
        "{body}"
    );
    assert_eq!(count(&server, "SELECT count(*) FROM media").await, 1);
    assert_eq!(
        stored_files(&server).len(),
        1,
        "{:?}",
        stored_files(&server)
    );
}

#[tokio::test]
async fn deleted_media_answers_404_and_its_file_goes_with_the_last_reference() {
    let server = TestServer::start().await;
    let alice = Media::new(&server, "alice").await;
    let first = alice.upload_ok(b"shared bytes", "text/plain").await;
    let second = alice.upload_ok(b"shared bytes", "text/plain").await;
    let image = alice.upload_ok(&png(400, 300), "image/png").await;
    let response = alice
        .thumbnail(&image, "width=32&height=32&method=crop")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        stored_files(&server).len(),
        3,
        "shared bytes, image, thumbnail"
    );

    let delete = |mxc: &str| {
        let mxc = Mxc::parse(mxc).expect("mxc");
        let homeserver = server.homeserver.clone();
        async move { homeserver.delete_media(&mxc).await.expect("delete") }
    };
    assert!(delete(&first).await);
    assert!(!delete(&first).await, "deleted already");
    assert_error(alice.download(&first, "").await, 404, "M_NOT_FOUND").await;
    let response = alice.download(&second, "").await;
    assert_eq!(&response.bytes().await.expect("body")[..], b"shared bytes");
    assert_eq!(
        stored_files(&server).len(),
        3,
        "the other upload keeps the file"
    );

    assert!(delete(&second).await);
    assert!(delete(&image).await);
    assert_error(alice.download(&image, "").await, 404, "M_NOT_FOUND").await;
    let response = alice
        .thumbnail(&image, "width=32&height=32&method=crop")
        .await;
    assert_error(response, 404, "M_NOT_FOUND").await;
    assert_eq!(stored_files(&server), Vec::<PathBuf>::new());
    assert_eq!(
        count(&server, "SELECT count(*) FROM media_thumbnails").await,
        0
    );
}

#[tokio::test]
async fn the_admin_cli_deletes_media_by_uri_and_by_age() {
    let database = ExternalDatabase::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let with_url = || database.hanse_command(&data);
    let server = HanseProcess::start(
        &data,
        &["--database-url", &database.url],
        &[("HANSE_REGISTRATION", "open".to_owned())],
    )
    .await;
    let anonymous = Client::new(&server.client_url);
    let login = anonymous
        .register("alice", common::PASSWORD, None)
        .await
        .expect("register");
    let alice = anonymous.with_token(&login.access_token);
    let old = alice
        .upload(&b"old"[..], "text/plain", None)
        .await
        .expect("upload");
    let kept = alice
        .upload(&b"kept"[..], "text/plain", None)
        .await
        .expect("upload");

    let run = |args: &[&str]| {
        let output = with_url().args(args).output().expect("running hanse");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&["media", "delete", &old]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), format!("deleted {old}"));
    let refused = alice.download(&old).await.expect_err("deleted");
    assert_eq!(refused.errcode(), Some("M_NOT_FOUND"));
    let (ok, _, stderr) = run(&["media", "delete", &old]);
    assert!(!ok && stderr.contains("no media at"), "{stderr}");
    let (ok, _, stderr) = run(&["media", "delete", "mxc://other.test/abc"]);
    assert!(
        !ok && stderr.contains("not media of this server"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&["media", "delete", "--before", "not-a-time"]);
    assert!(!ok && stderr.contains("not a time"), "{stderr}");

    // Retention: nothing is older than 1970; everything is older than a
    // moment from now.
    let (ok, stdout, stderr) = run(&["media", "delete", "--before", "1970-01-02"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("deleted 0 media"), "{stdout}");
    let soon = (hanse_core::clock::now_ms() + 1000).to_string();
    let (ok, stdout, stderr) = run(&["media", "delete", "--before", &soon]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("deleted {kept}")), "{stdout}");
    let refused = alice.download(&kept).await.expect_err("deleted");
    assert_eq!(refused.errcode(), Some("M_NOT_FOUND"));
    let media_dir = data.join("media");
    let files = walk_files(&media_dir);
    assert!(files.is_empty(), "{files:?}");
    assert!(kept.starts_with(&format!("mxc://{SERVER_NAME}/")));
    server.stop();
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A one-page web server on loopback: answers every request with `page`.
async fn page_server(page: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0; 4096];
                let _ = stream.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{address}/article")
}

const PAGE: &str = "<html><head><title>Fallback</title>\
    <meta property=\"og:title\" content=\"Hanse &amp; Media\">\
    <meta property=\"og:description\" content=\"Previewed\"></head><body></body></html>";

/// A server with URL previews on.
async fn preview_server(allow_private_addresses: bool) -> TestServer {
    server_with(|media| {
        media.url_preview = Some(hanse_core::UrlPreviewSettings {
            allow_private_addresses,
            max_page_bytes: 65536,
            timeout: Duration::from_secs(5),
        });
    })
    .await
}

#[tokio::test]
async fn url_previews_are_off_by_default_and_never_reach_loopback_unless_allowed() {
    let page = page_server(PAGE).await;
    let preview_path = |url: &str| {
        format!(
            "{MEDIA_V1}/preview_url?url={}",
            url.replace(':', "%3A").replace('/', "%2F")
        )
    };

    let off = TestServer::start().await;
    let alice = Media::new(&off, "alice").await;
    let refused = alice
        .client
        .get::<Value>(&preview_path(&page))
        .await
        .expect_err("previews are off");
    assert_eq!(refused.errcode(), Some("M_FORBIDDEN"));

    let guarded = preview_server(false).await;
    let alice = Media::new(&guarded, "alice").await;
    let by_name = page.replace("127.0.0.1", "localhost");
    for url in [
        &page,
        &by_name,
        "http://[::1]:9/",
        "http://169.254.169.254/latest",
    ] {
        let refused = alice
            .client
            .get::<Value>(&preview_path(url))
            .await
            .expect_err("a loopback or link-local address");
        assert_eq!(refused.errcode(), Some("M_FORBIDDEN"), "{url}: {refused}");
    }
    let refused = alice
        .client
        .get::<Value>(&preview_path("file:///etc/passwd"))
        .await
        .expect_err("not http");
    assert_eq!(refused.errcode(), Some("M_INVALID_PARAM"));

    let allowed = preview_server(true).await;
    let alice = Media::new(&allowed, "alice").await;
    let preview: Value = alice
        .client
        .get(&preview_path(&page))
        .await
        .expect("preview");
    assert_eq!(preview["og:title"], "Hanse & Media");
    assert_eq!(preview["og:description"], "Previewed");
}

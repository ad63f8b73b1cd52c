//! Thumbnails of JPEG, PNG, GIF and WebP images, made on a blocking thread
//! (a bounded number at once) and cached as files with a row each.
//!
//! Requests are rounded up to the sizes the spec recommends (32x32 and
//! 96x96 crop; 320x240, 640x480 and 800x600 scale), so one image has a
//! handful of thumbnails whatever clients ask for; larger requests are
//! made at the size asked. Images are never scaled up, and an image no
//! larger than the request is served as it is. The image's header is read
//! first: one with more pixels than configured is refused before any
//! decoding, and the decoders run under allocation limits, so neither a
//! huge canvas nor a decompression bomb can take the server's memory.

use std::fs::File;
use std::io::{BufReader, Cursor};
use std::path::Path;
use std::time::Duration;

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{
    AnimationDecoder, DynamicImage, Frame, ImageDecoder, ImageFormat, ImageReader, Limits,
};

use super::metadata::{Access, StoredMedia};
use crate::clock::now_ms;
use crate::store::ThumbnailRow;
use crate::{Error, Homeserver, Result};

/// How a thumbnail fits the requested box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailMethod {
    /// Exactly the box's size (the image's centre, cut to its aspect).
    Crop,
    /// The whole image, within the box, its aspect kept.
    Scale,
}

impl ThumbnailMethod {
    pub fn parse(method: &str) -> Result<Self> {
        match method {
            "crop" => Ok(Self::Crop),
            "scale" => Ok(Self::Scale),
            other => Err(Error::InvalidParam(format!(
                "method must be crop or scale, not {other:?}"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Crop => "crop",
            Self::Scale => "scale",
        }
    }
}

/// What a client asked for.
#[derive(Debug, Clone, Copy)]
pub struct ThumbnailRequest {
    pub width: u32,
    pub height: u32,
    pub method: ThumbnailMethod,
    pub animated: bool,
}

/// The sizes thumbnails are made in, as the spec recommends.
const STANDARD_SIZES: &[(u32, u32, ThumbnailMethod)] = &[
    (32, 32, ThumbnailMethod::Crop),
    (96, 96, ThumbnailMethod::Crop),
    (320, 240, ThumbnailMethod::Scale),
    (640, 480, ThumbnailMethod::Scale),
    (800, 600, ThumbnailMethod::Scale),
];
/// Largest thumbnail side made.
const MAX_SIDE: u32 = 4096;
/// Most frames an animated thumbnail keeps.
const MAX_FRAMES: usize = 200;
const JPEG_QUALITY: u8 = 80;

impl ThumbnailRequest {
    /// The box to make: the smallest standard size of the method that
    /// holds the request, or the request itself.
    fn target(&self) -> (u32, u32) {
        STANDARD_SIZES
            .iter()
            .find(|(w, h, m)| *m == self.method && *w >= self.width && *h >= self.height)
            .map_or(
                (self.width.min(MAX_SIDE), self.height.min(MAX_SIDE)),
                |(w, h, _)| (*w, *h),
            )
    }
}

/// A thumbnail made in memory.
#[derive(Debug)]
pub struct Made {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// What thumbnailing an image came to.
#[derive(Debug)]
pub enum Outcome {
    /// The image is no larger than the request: serve it, as this type.
    Original {
        content_type: &'static str,
    },
    Thumbnail(Made),
}

fn cannot(detail: impl std::fmt::Display) -> Error {
    Error::Unknown(format!("cannot make a thumbnail of this content: {detail}"))
}

fn content_type_of(format: ImageFormat) -> Option<&'static str> {
    Some(match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Gif => "image/gif",
        ImageFormat::WebP => "image/webp",
        _ => return None,
    })
}

/// Makes a thumbnail of the image at `path` for `request`. Blocking, and
/// CPU-bound: run it on a blocking thread.
pub fn make_thumbnail(path: &Path, request: ThumbnailRequest, max_pixels: u64) -> Result<Outcome> {
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| Error::Internal(format!("opening {}: {e}", path.display())))
    };
    let reader = ImageReader::new(open()?)
        .with_guessed_format()
        .map_err(|e| Error::Internal(format!("reading {}: {e}", path.display())))?;
    let format = reader.format().ok_or_else(|| cannot("not an image"))?;
    let content_type = content_type_of(format).ok_or_else(|| cannot("unsupported image format"))?;
    let mut decoder = reader.into_decoder().map_err(cannot)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(Error::TooLarge(format!(
            "the image has {width}x{height} pixels, more than the {max_pixels} this server \
             makes thumbnails of"
        )));
    }
    if width == 0 || height == 0 {
        return Err(cannot("the image is empty"));
    }
    // Decoded even when it is served as it is: what cannot be decoded is
    // no image to show.
    decoder.set_limits(limits(max_pixels)).map_err(cannot)?;
    let orientation = decoder.orientation().map_err(cannot)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(cannot)?;
    if width <= request.width && height <= request.height {
        return Ok(Outcome::Original { content_type });
    }
    let (box_w, box_h) = request.target();
    if request.method == ThumbnailMethod::Scale && width <= box_w && height <= box_h {
        return Ok(Outcome::Original { content_type });
    }
    if request.animated && format == ImageFormat::Gif {
        drop(image);
        let geometry = Geometry::new(width, height, box_w, box_h, request.method);
        return animated_gif(open()?, &geometry, limits(max_pixels)).map(Outcome::Thumbnail);
    }
    image.apply_orientation(orientation);
    // A rotation swaps the sides.
    let geometry = Geometry::new(image.width(), image.height(), box_w, box_h, request.method);
    let thumbnail = geometry.apply(&image);
    let mut bytes = Vec::new();
    let content_type = if format == ImageFormat::Jpeg {
        thumbnail
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY))
            .map_err(cannot)?;
        "image/jpeg"
    } else {
        thumbnail
            .write_with_encoder(PngEncoder::new(&mut bytes))
            .map_err(cannot)?;
        "image/png"
    };
    Ok(Outcome::Thumbnail(Made {
        bytes,
        content_type,
    }))
}

/// Decoder limits: no side longer than the pixel budget allows, and at
/// most 8 bytes per allowed pixel (16-bit RGBA) of allocations.
fn limits(max_pixels: u64) -> Limits {
    let side = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    let mut limits = Limits::default();
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    limits
}

/// Where a thumbnail comes from in the image, and its size.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    crop: (u32, u32, u32, u32),
    size: (u32, u32),
}

impl Geometry {
    fn new(width: u32, height: u32, box_w: u32, box_h: u32, method: ThumbnailMethod) -> Self {
        let (w, h, bw, bh) = (
            u64::from(width),
            u64::from(height),
            u64::from(box_w),
            u64::from(box_h),
        );
        match method {
            ThumbnailMethod::Scale => {
                // Fit within the box, never larger than the image.
                let (tw, th) = if w * bh > h * bw {
                    (bw.min(w), (h * bw.min(w) / w).max(1))
                } else {
                    ((w * bh.min(h) / h).max(1), bh.min(h))
                };
                Self {
                    crop: (0, 0, width, height),
                    size: (tw as u32, th as u32),
                }
            }
            ThumbnailMethod::Crop => {
                // The largest centred region of the box's aspect...
                let (cw, ch) = if w * bh > h * bw {
                    ((h * bw / bh).max(1), h)
                } else {
                    (w, (w * bh / bw).max(1))
                };
                // ...shrunk to the box, if it is larger.
                let size = if cw > bw { (bw, bh) } else { (cw, ch) };
                Self {
                    crop: (
                        ((w - cw) / 2) as u32,
                        ((h - ch) / 2) as u32,
                        cw as u32,
                        ch as u32,
                    ),
                    size: (size.0 as u32, size.1 as u32),
                }
            }
        }
    }

    fn apply(&self, image: &DynamicImage) -> DynamicImage {
        let (x, y, w, h) = self.crop;
        let region = if (x, y, w, h) == (0, 0, image.width(), image.height()) {
            image.clone()
        } else {
            image.crop_imm(x, y, w, h)
        };
        if (region.width(), region.height()) == self.size {
            region
        } else {
            region.thumbnail_exact(self.size.0, self.size.1)
        }
    }
}

/// An animated GIF thumbnail of an animated GIF: each frame cut and
/// scaled alike, one frame in memory at a time.
fn animated_gif(reader: BufReader<File>, geometry: &Geometry, limits: Limits) -> Result<Made> {
    let mut decoder = GifDecoder::new(reader).map_err(cannot)?;
    decoder.set_limits(limits).map_err(cannot)?;
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(Cursor::new(&mut bytes));
        encoder.set_repeat(Repeat::Infinite).map_err(cannot)?;
        for frame in decoder.into_frames().take(MAX_FRAMES) {
            let frame = frame.map_err(cannot)?;
            let delay = frame.delay();
            let image = DynamicImage::ImageRgba8(frame.into_buffer());
            let small = geometry.apply(&image).to_rgba8();
            encoder
                .encode_frame(Frame::from_parts(small, 0, 0, delay))
                .map_err(cannot)?;
        }
    }
    Ok(Made {
        bytes,
        content_type: "image/gif",
    })
}

impl Homeserver {
    /// A thumbnail of local media for `request`: cached, made now, or the
    /// image itself when it is no larger than asked.
    pub async fn thumbnail(
        &self,
        server_name: &str,
        media_id: &str,
        request: ThumbnailRequest,
        access: Access,
        wait: Duration,
    ) -> Result<StoredMedia> {
        if request.width == 0 || request.height == 0 {
            return Err(Error::InvalidParam(
                "width and height must be at least 1".into(),
            ));
        }
        let (mxc, original) = self
            .media_for_download(server_name, media_id, access, wait)
            .await?;
        let (origin, id) = (mxc.server_name.as_str(), mxc.media_id.as_str());
        let (box_w, box_h) = request.target();
        let key = (
            i32::try_from(box_w).unwrap_or(i32::MAX),
            i32::try_from(box_h).unwrap_or(i32::MAX),
            request.method.as_str(),
        );
        let cached = self
            .store
            .thumbnail(origin, id, key.0, key.1, key.2, request.animated)
            .await?;
        if let Some(row) = cached {
            return self.stored_thumbnail(&row);
        }

        let _permit = self
            .media
            .thumbnailing
            .acquire()
            .await
            .map_err(|e| Error::Internal(format!("thumbnail queue: {e}")))?;
        let (path, max_pixels) = (
            original.path.clone(),
            self.settings.media.max_thumbnail_source_pixels,
        );
        let outcome =
            tokio::task::spawn_blocking(move || make_thumbnail(&path, request, max_pixels))
                .await
                .map_err(|e| Error::Internal(format!("thumbnail task: {e}")))??;
        let made = match outcome {
            Outcome::Original { content_type } => {
                return Ok(StoredMedia {
                    content_type: content_type.to_owned(),
                    filename: None,
                    ..original
                })
            }
            Outcome::Thumbnail(made) => made,
        };
        let (content, mut file) = self.media.files.store_bytes(&made.bytes).await?;
        let row = ThumbnailRow {
            width: key.0,
            height: key.1,
            method: key.2.to_owned(),
            animated: request.animated,
            content_type: made.content_type.to_owned(),
            size: i64::try_from(content.size).unwrap_or(i64::MAX),
            sha256: content.sha256.clone(),
        };
        let write = self.store.begin().await?;
        write.lock_media_file(&content.sha256).await?;
        file.place(&self.media.files, &content)?;
        let inserted = write.insert_thumbnail(origin, id, &row, now_ms()).await?;
        write.commit().await?;
        if !inserted {
            // Made twice at once, or the media was deleted meanwhile.
            self.remove_file_if_unreferenced(&content.sha256).await?;
            return match self
                .store
                .thumbnail(origin, id, key.0, key.1, key.2, request.animated)
                .await?
            {
                Some(row) => self.stored_thumbnail(&row),
                None => Err(Error::NotFound(format!("no media at {mxc}"))),
            };
        }
        self.stored_thumbnail(&row)
    }

    fn stored_thumbnail(&self, row: &ThumbnailRow) -> Result<StoredMedia> {
        Ok(StoredMedia {
            path: self.media.files.path_of(&row.sha256)?,
            size: u64::try_from(row.size).unwrap_or_default(),
            content_type: row.content_type.clone(),
            filename: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, RgbaImage};

    fn png(width: u32, height: u32) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("tempfile");
        let image = RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
        });
        image
            .save_with_format(file.path(), ImageFormat::Png)
            .expect("save");
        file
    }

    /// A static thumbnail of `file`, with a budget of 16 Mpx.
    fn thumbnail_of(
        file: &tempfile::NamedTempFile,
        width: u32,
        height: u32,
        method: ThumbnailMethod,
    ) -> Result<Outcome> {
        make_thumbnail(file.path(), request(width, height, method), 1 << 24)
    }

    fn request(width: u32, height: u32, method: ThumbnailMethod) -> ThumbnailRequest {
        ThumbnailRequest {
            width,
            height,
            method,
            animated: false,
        }
    }

    /// The thumbnail's size, decoded, and its type.
    fn made(outcome: Result<Outcome>) -> (u32, u32, &'static str) {
        match outcome.expect("thumbnail") {
            Outcome::Thumbnail(made) => {
                let image = image::load_from_memory(&made.bytes).expect("decodes");
                (image.width(), image.height(), made.content_type)
            }
            Outcome::Original { .. } => panic!("expected a thumbnail"),
        }
    }

    #[test]
    fn crop_is_exact_and_scale_fits_within() {
        let image = png(1000, 500);
        let crop = made(thumbnail_of(&image, 96, 96, ThumbnailMethod::Crop));
        assert_eq!(crop, (96, 96, "image/png"));
        let rounded_up = made(thumbnail_of(&image, 50, 40, ThumbnailMethod::Crop));
        assert_eq!(rounded_up, (96, 96, "image/png"));
        let scale = made(thumbnail_of(&image, 640, 480, ThumbnailMethod::Scale));
        assert_eq!(scale, (640, 320, "image/png"));
    }

    #[test]
    fn small_images_are_served_as_they_are_and_never_scaled_up() {
        let image = png(20, 10);
        let outcome = thumbnail_of(&image, 32, 32, ThumbnailMethod::Crop);
        assert!(matches!(
            outcome,
            Ok(Outcome::Original {
                content_type: "image/png"
            })
        ));
        // Wider than a crop box, lower than it: cut to the aspect, not
        // scaled up.
        let wide = png(200, 40);
        let crop = made(thumbnail_of(&wide, 96, 96, ThumbnailMethod::Crop));
        assert_eq!(crop, (40, 40, "image/png"));
    }

    #[test]
    fn huge_canvases_and_garbage_are_refused() {
        let image = png(300, 300);
        let refused = make_thumbnail(
            image.path(),
            request(32, 32, ThumbnailMethod::Crop),
            300 * 299,
        );
        assert!(matches!(refused, Err(Error::TooLarge(_))), "{refused:?}");

        let mut header = Vec::new();
        PngEncoder::new(&mut header)
            .write_image(&[0; 4 * 4 * 3], 4, 4, image::ExtendedColorType::Rgb8)
            .expect("encode");
        let truncated = tempfile::NamedTempFile::new().expect("tempfile");
        std::fs::write(truncated.path(), &header[..header.len() - 20]).expect("write");
        let refused = thumbnail_of(&truncated, 1, 1, ThumbnailMethod::Crop);
        assert!(matches!(refused, Err(Error::Unknown(_))), "{refused:?}");

        let mut half = std::fs::read(png(200, 200).path()).expect("read");
        half.truncate(half.len() / 2);
        std::fs::write(truncated.path(), &half).expect("write");
        for method in [ThumbnailMethod::Crop, ThumbnailMethod::Scale] {
            let refused = make_thumbnail(truncated.path(), request(32, 32, method), 1 << 24);
            assert!(matches!(refused, Err(Error::Unknown(_))), "{refused:?}");
        }

        let text = tempfile::NamedTempFile::new().expect("tempfile");
        std::fs::write(text.path(), "just text").expect("write");
        let refused = thumbnail_of(&text, 1, 1, ThumbnailMethod::Crop);
        assert!(matches!(refused, Err(Error::Unknown(_))), "{refused:?}");
    }
}

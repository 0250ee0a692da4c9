//! QR images of ticket codes: SVG, and PNG (drawn from the QR matrix with the `png` encoder).

use qrcode::{Color, EcLevel, QrCode};

/// The code as an SVG image.
pub fn svg(code: &str) -> anyhow::Result<String> {
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)?;
    Ok(qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// Which mask a QR image is drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// The one of the eight masks the standard's penalty rules prefer for this code (what
    /// `QrCode` picks): eight candidates drawn and scored, for the images a buyer asks for.
    Best,
    /// Mask pattern 000 (a checkerboard) straight away: as readable by every reader (the
    /// format bits name the mask), at about a seventh of the work; for the confirmation
    /// emails, which draw one image per ticket by the tens of thousands during an onsale
    /// (the penalty scoring was a fifth of a node's CPU there, measured with perf).
    Fixed,
}

/// The modules of a code's QR symbol (error correction M): its width and its colours, row by
/// row.
pub fn matrix(code: &str, mask: Mask) -> anyhow::Result<(usize, Vec<Color>)> {
    if mask == Mask::Best {
        let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)?;
        return Ok((qr.width(), qr.to_colors()));
    }
    let bits = qrcode::bits::encode_auto(code.as_bytes(), EcLevel::M)?;
    let version = bits.version();
    let data = bits.into_bytes();
    let (encoded, ec) = qrcode::ec::construct_codewords(&data, version, EcLevel::M)?;
    let mut canvas = qrcode::canvas::Canvas::new(version, EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&encoded, &ec);
    canvas.apply_mask(qrcode::canvas::MaskPattern::Checkerboard);
    Ok((usize::try_from(version.width())?, canvas.into_colors()))
}

/// The code as a PNG image, `scale` pixels per module with a 4-module quiet zone: one bit a
/// pixel (a QR code has two colours), so the encoder compresses an eighth of the bytes an
/// 8-bit greyscale image would give it; every confirmation email draws one per ticket.
pub fn png(code: &str, scale: usize, mask: Mask) -> anyhow::Result<Vec<u8>> {
    let (modules, colors) = matrix(code, mask)?;
    let quiet = 4;
    let side = (modules + 2 * quiet) * scale;
    // Rows of `side` bits, most significant first; a set bit is white (1-bit greyscale).
    let stride = side.div_ceil(8);
    let mut pixels = vec![0xffu8; stride * side];
    // Each module row is drawn once as a scanline, then copied to the `scale` pixel rows it
    // covers.
    let mut line = vec![0xffu8; stride];
    for (y, module_row) in colors.chunks_exact(modules).enumerate() {
        line.fill(0xff);
        for (x, color) in module_row.iter().enumerate() {
            if *color == Color::Dark {
                for px in (x + quiet) * scale..(x + quiet + 1) * scale {
                    line[px / 8] &= !(0x80 >> (px % 8));
                }
            }
        }
        let first = (y + quiet) * scale * stride;
        for row in pixels[first..first + scale * stride].chunks_exact_mut(stride) {
            row.copy_from_slice(&line);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        // Each module row repeats `scale` times: the "up" filter turns all but the first of
        // them into zeros, which cost the compressor next to nothing.
        encoder.set_filter(png::FilterType::Up);
        // fdeflate (the png crate's default, named so an upgrade cannot change it): 44 µs and
        // 2,176 bytes for the email's image, against 630 µs and 999 bytes at zlib's default
        // level (`cargo bench --bench qr`, 2026-12-03).
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_both_formats() {
        let svg = super::svg("BX1.abc.def").expect("svg");
        assert!(svg.contains("<svg"));
        let png = super::png("BX1.abc.def", 4, super::Mask::Best).expect("png");
        assert_eq!(&png[1..4], b"PNG");
    }

    /// The PNG's pixels, decoded: (side, whether pixel (x, y) is dark).
    fn decoded(bytes: Vec<u8>) -> (usize, Vec<bool>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("a png");
        let mut image = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut image).expect("a frame");
        assert_eq!(frame.bit_depth, png::BitDepth::One);
        assert_eq!(frame.width, frame.height);
        let side = frame.width as usize;
        let dark = (0..side * side)
            .map(|i| {
                let (x, y) = (i % side, i / side);
                image[y * frame.line_size + x / 8] & (0x80 >> (x % 8)) == 0
            })
            .collect();
        (side, dark)
    }

    /// Every confirmation email attaches one image per ticket, so it stays small: 2,176 bytes
    /// for a real code's length (the bench's `qr` input) at the email's scale.
    #[test]
    fn the_email_image_stays_small() {
        let code = "BX1.MTIzNDU6Njc4OTA6QUExMjM6NDU2Nzg5.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUt";
        let png = super::png(code, 6, super::Mask::Fixed).expect("png");
        assert!(png.len() < 4096, "{} bytes", png.len());
    }

    #[test]
    fn the_png_has_the_codes_modules_in_black_and_white() {
        let code = "BX1.abc.def";
        let scale = 3;
        for mask in [super::Mask::Best, super::Mask::Fixed] {
            let (side, dark) = decoded(super::png(code, scale, mask).expect("png"));
            let (modules, colors) = super::matrix(code, mask).expect("matrix");
            assert_eq!(side, (modules + 8) * scale);
            for y in 0..side {
                for x in 0..side {
                    let (mx, my) = ((x / scale).checked_sub(4), (y / scale).checked_sub(4));
                    let expected = match (mx, my) {
                        (Some(mx), Some(my)) if mx < modules && my < modules => {
                            colors[my * modules + mx] == qrcode::Color::Dark
                        }
                        _ => false,
                    };
                    assert_eq!(dark[y * side + x], expected, "{mask:?} pixel {x},{y}");
                }
            }
        }
    }

    /// A QR reader (rqrr) reads the ticket code back from either image, at the scale the
    /// emails use, for codes of a real ticket's length.
    #[test]
    fn a_reader_decodes_the_code_from_either_mask() {
        let code = "BX1.MTIzNDU6Njc4OTA6QUExMjM6NDU2Nzg5.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUt";
        for mask in [super::Mask::Best, super::Mask::Fixed] {
            let (side, dark) = decoded(super::png(code, 6, mask).expect("png"));
            let mut image = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
                if dark[y * side + x] {
                    0
                } else {
                    255
                }
            });
            let grids = image.detect_grids();
            assert_eq!(grids.len(), 1, "{mask:?}: one symbol found");
            let (_, content) = grids[0].decode().expect("decodes");
            assert_eq!(content, code, "{mask:?}");
        }
    }
}

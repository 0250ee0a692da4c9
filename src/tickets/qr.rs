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

/// The code as a PNG image, `scale` pixels per module with a 4-module quiet zone: one bit a
/// pixel (a QR code has two colours), so the encoder compresses an eighth of the bytes an
/// 8-bit greyscale image would give it; every confirmation email draws one per ticket.
pub fn png(code: &str, scale: usize) -> anyhow::Result<Vec<u8>> {
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)?;
    let modules = qr.width();
    let colors = qr.to_colors();
    let quiet = 4;
    let side = (modules + 2 * quiet) * scale;
    // Rows of `side` bits, most significant first; a set bit is white (1-bit greyscale).
    let stride = side.div_ceil(8);
    let mut pixels = vec![0xffu8; stride * side];
    for y in 0..modules {
        for x in 0..modules {
            if colors[y * modules + x] == Color::Dark {
                for dy in 0..scale {
                    let row = ((y + quiet) * scale + dy) * stride;
                    for dx in 0..scale {
                        let px = (x + quiet) * scale + dx;
                        pixels[row + px / 8] &= !(0x80 >> (px % 8));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
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
        let png = super::png("BX1.abc.def", 4).expect("png");
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn the_png_has_the_codes_modules_in_black_and_white() {
        let code = "BX1.abc.def";
        let scale = 3;
        let bytes = super::png(code, scale).expect("png");
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("a png");
        let mut image = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut image).expect("a frame");
        assert_eq!(frame.bit_depth, png::BitDepth::One);
        let qr = qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::M)
            .expect("qr");
        let (modules, colors) = (qr.width(), qr.to_colors());
        let side = (modules + 8) * scale;
        assert_eq!(frame.width as usize, side);
        let pixel_is_dark =
            |x: usize, y: usize| image[y * frame.line_size + x / 8] & (0x80 >> (x % 8)) == 0;
        for y in 0..side {
            for x in 0..side {
                let (mx, my) = ((x / scale).checked_sub(4), (y / scale).checked_sub(4));
                let dark = match (mx, my) {
                    (Some(mx), Some(my)) if mx < modules && my < modules => {
                        colors[my * modules + mx] == qrcode::Color::Dark
                    }
                    _ => false,
                };
                assert_eq!(pixel_is_dark(x, y), dark, "pixel {x},{y}");
            }
        }
    }
}

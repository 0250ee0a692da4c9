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

/// The code as a PNG image, `scale` pixels per module with a 4-module quiet zone.
pub fn png(code: &str, scale: usize) -> anyhow::Result<Vec<u8>> {
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)?;
    let modules = qr.width();
    let colors = qr.to_colors();
    let quiet = 4;
    let side = (modules + 2 * quiet) * scale;
    let mut pixels = vec![255u8; side * side];
    for y in 0..modules {
        for x in 0..modules {
            if colors[y * modules + x] == Color::Dark {
                for dy in 0..scale {
                    let row = (y + quiet) * scale + dy;
                    let start = row * side + (x + quiet) * scale;
                    pixels[start..start + scale].fill(0);
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
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
}

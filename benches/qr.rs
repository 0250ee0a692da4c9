//! Drawing a ticket's QR code as the confirmation email attaches it (PNG, 6 pixels a module,
//! the fixed mask) and as the ticket page serves it (8 pixels a module, the best mask), for a
//! code of a real ticket's length. An onsale draws one per seat sold.
//!
//! `cargo bench --bench qr`

use boxoffice::tickets::qr::{png, Mask};
use criterion::{criterion_group, criterion_main, Criterion};

const CODE: &str = "BX1.MTIzNDU6Njc4OTA6QUExMjM6NDU2Nzg5.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUt";

fn qr(c: &mut Criterion) {
    c.bench_function("qr png for an email (scale 6, fixed mask)", |b| {
        b.iter(|| png(std::hint::black_box(CODE), 6, Mask::Fixed))
    });
    c.bench_function("qr png for the ticket page (scale 8, best mask)", |b| {
        b.iter(|| png(std::hint::black_box(CODE), 8, Mask::Best))
    });
}

criterion_group!(benches, qr);
criterion_main!(benches);

//! Search at catalog scale: index 100,000 generated shows, then time search-as-you-type queries
//! (every prefix of a few titles, with and without typos) and print p50/p99, plus criterion's
//! measurement of three representative queries.
//!
//! `cargo bench --bench search`

use std::time::{Duration, Instant};

use boxoffice::search::{SearchIndex, SearchQuery, ShowDoc};
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SHOWS: usize = 100_000;
const CITIES: &[&str] = &[
    "Bangalore",
    "Mumbai",
    "Delhi",
    "Chennai",
    "Hyderabad",
    "Pune",
    "Kolkata",
    "Jaipur",
];

/// A pronounceable made-up word.
fn word(rng: &mut StdRng) -> String {
    const SYL: &[&str] = &[
        "ra", "ka", "shi", "pu", "sha", "ar", "ji", "lo", "ve", "ma", "ti", "na", "de", "su", "ba",
        "go", "ri", "zen", "mon", "tal",
    ];
    (0..rng.gen_range(2..4))
        .map(|_| SYL[rng.gen_range(0..SYL.len())])
        .collect()
}

fn doc(i: usize, rng: &mut StdRng) -> ShowDoc {
    let title: Vec<String> = (0..rng.gen_range(2..5)).map(|_| word(rng)).collect();
    let title = match i {
        0 => "Pushpa 2: The Rule".to_owned(),
        1 => "Arijit Singh Live".to_owned(),
        _ => title.join(" "),
    };
    let description: Vec<String> = (0..20).map(|_| word(rng)).collect();
    let city = CITIES[rng.gen_range(0..CITIES.len())];
    let start = Utc::now() + chrono::Duration::hours(rng.gen_range(1..24 * 90));
    ShowDoc {
        show_id: i as i64,
        summary: serde_json::json!({ "show_id": i, "title": title, "city": city }),
        title,
        description: description.join(" "),
        tags: vec![word(rng), word(rng)],
        artists: vec![format!("{} {}", word(rng), word(rng))],
        venue: format!("{} Arena", word(rng)),
        city: city.to_owned(),
        category: if i.is_multiple_of(3) {
            "concert"
        } else {
            "movie"
        }
        .to_owned(),
        start,
        local_day: 0,
    }
}

fn build() -> (SearchIndex, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let index = SearchIndex::open(Some(dir.path())).expect("index");
    let mut rng = StdRng::seed_from_u64(7);
    let started = Instant::now();
    for i in 0..SHOWS {
        index.upsert(&doc(i, &mut rng)).expect("add");
    }
    index.commit().expect("commit");
    let took = started.elapsed();
    println!(
        "indexed {SHOWS} shows in {:.2} s = {:.0} shows/s (including the commit)",
        took.as_secs_f64(),
        SHOWS as f64 / took.as_secs_f64()
    );
    (index, dir)
}

fn query(q: &str) -> SearchQuery {
    SearchQuery {
        q: q.to_owned(),
        limit: 10,
        ..SearchQuery::default()
    }
}

fn percentiles(index: &SearchIndex) {
    // What a visitor types, key by key (typos included), and a city filter.
    let typed = [
        "pushpa the rule",
        "puspa",
        "arijit singh",
        "arjit",
        "rakashi mon",
        "zenlo",
        "talsu ba",
    ];
    let mut latencies = Vec::new();
    for _ in 0..20 {
        for phrase in typed {
            for end in 1..=phrase.len() {
                let mut q = query(&phrase[..end]);
                if end.is_multiple_of(4) {
                    q.city = Some("Mumbai".into());
                }
                let t = Instant::now();
                let (_, hits) = index.search(&q, Utc::now()).expect("search");
                latencies.push(t.elapsed());
                std::hint::black_box(hits);
            }
        }
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "search-as-you-type over {SHOWS} shows, {} queries: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        p(0.5),
        p(0.95),
        p(0.99),
        p(1.0)
    );
}

fn bench_search(c: &mut Criterion) {
    let (index, _dir) = build();
    percentiles(&index);
    let mut group = c.benchmark_group("search_100k");
    group.measurement_time(Duration::from_secs(5));
    for q in ["pushp", "puspa", "arijit singh"] {
        group.bench_function(q, |b| {
            b.iter(|| index.search(&query(q), Utc::now()).expect("search"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);

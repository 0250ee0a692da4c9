//! The tantivy index of live, future shows: BM25 over title, artists, tags, venue, city and
//! description; typo tolerance (one edit for words of 5+ letters, two for 9+); prefix matching on
//! the last word; exact filters by city, category and date.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

const ANALYZER: &str = "boxoffice";

/// One show as indexed.
#[derive(Debug, Clone)]
pub struct ShowDoc {
    pub show_id: i64,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub artists: Vec<String>,
    pub venue: String,
    pub city: String,
    pub category: String,
    pub start: DateTime<Utc>,
    /// The venue-local calendar day of the start (days since 0001-01-01), for date filters.
    pub local_day: i64,
    /// The show in the list shape, stored for results.
    pub summary: serde_json::Value,
}

/// A hash of everything a document holds.
fn fingerprint(doc: &ShowDoc) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{doc:?}").hash(&mut h);
    h.finish()
}

/// A search request.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub q: String,
    pub city: Option<String>,
    pub category: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Venue-local days (days since 0001-01-01), inclusive.
    pub from_day: Option<i64>,
    pub to_day: Option<i64>,
    pub limit: usize,
    pub offset: usize,
}

/// One hit: the stored list-shape summary plus score and highlighted fragments.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hit {
    /// The show in the list shape of `GET /api/v1/shows`.
    #[serde(flatten)]
    #[schema(value_type = crate::catalog::browse::ShowSummary)]
    pub summary: serde_json::Value,
    pub score: f32,
    /// Matched words marked with `<b>…</b>` (the rest escaped), by field.
    #[schema(value_type = Object)]
    pub highlights: serde_json::Value,
}

#[derive(Clone, Copy)]
struct Fields {
    show_id: Field,
    title: Field,
    description: Field,
    tags: Field,
    artists: Field,
    venue: Field,
    city: Field,
    city_key: Field,
    category: Field,
    start: Field,
    local_day: Field,
    summary: Field,
}

/// The index with its reader and single writer.
pub struct SearchIndex {
    /// Outbox ids applied within the indexer's look-back window.
    pub(crate) applied: Mutex<std::collections::BTreeSet<i64>>,
    /// A fingerprint of each show's document as last written, so an event that leaves a
    /// document as it was (most bookings) costs no write and no commit.
    written: Mutex<std::collections::HashMap<i64, u64>>,
    /// Whether `written` covers every document (true once the index was cleared and rebuilt in
    /// this process; an index opened from disk holds documents written before).
    complete: std::sync::atomic::AtomicBool,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |stored: bool| {
        let o = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        if stored {
            o.set_stored()
        } else {
            o
        }
    };
    let f = Fields {
        show_id: b.add_i64_field("show_id", INDEXED | STORED | FAST),
        title: b.add_text_field("title", text(true)),
        description: b.add_text_field("description", text(true)),
        tags: b.add_text_field("tags", text(false)),
        artists: b.add_text_field("artists", text(false)),
        venue: b.add_text_field("venue", text(false)),
        city: b.add_text_field("city", text(false)),
        city_key: b.add_text_field("city_key", STRING),
        category: b.add_text_field("category", STRING),
        start: b.add_i64_field("start", INDEXED | FAST),
        local_day: b.add_i64_field("local_day", INDEXED),
        summary: b.add_text_field("summary", STORED),
    };
    (b.build(), f)
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Edits tolerated for a word: none below 5 letters, one from 5, two from 9.
pub fn typo_distance(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

impl SearchIndex {
    /// Opens (or creates) the index in `dir`; `None` for an in-memory index (benchmarks).
    pub fn open(dir: Option<&Path>) -> tantivy::Result<Self> {
        let (schema, f) = schema();
        let index = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let mmap = tantivy::directory::MmapDirectory::open(dir)?;
                Index::open_or_create(mmap, schema)?
            }
            None => Index::create_in_ram(schema),
        };
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = index.writer(50_000_000)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            applied: Mutex::default(),
            written: Mutex::default(),
            complete: std::sync::atomic::AtomicBool::new(dir.is_none()),
            reader,
            writer: Mutex::new(writer),
            f,
        })
    }

    fn written(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, u64>> {
        self.written.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether writing `doc` (or removing the show, for `None`) would change what the index
    /// holds for `show_id`.
    pub fn differs(&self, show_id: i64, doc: Option<&ShowDoc>) -> bool {
        let written = self.written().get(&show_id).copied();
        if written.is_none() && !self.complete.load(std::sync::atomic::Ordering::Relaxed) {
            // Maybe written by an earlier process: only a write or removal makes it certain.
            return true;
        }
        written != doc.map(fingerprint)
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces (or adds) a show; visible after [`commit`](Self::commit).
    pub fn upsert(&self, doc: &ShowDoc) -> tantivy::Result<()> {
        let f = self.f;
        let writer = self.writer();
        self.written().insert(doc.show_id, fingerprint(doc));
        writer.delete_term(Term::from_field_i64(f.show_id, doc.show_id));
        let mut d = TantivyDocument::default();
        d.add_i64(f.show_id, doc.show_id);
        d.add_text(f.title, &doc.title);
        d.add_text(f.description, &doc.description);
        for t in &doc.tags {
            d.add_text(f.tags, t);
        }
        for a in &doc.artists {
            d.add_text(f.artists, a);
        }
        d.add_text(f.venue, &doc.venue);
        d.add_text(f.city, &doc.city);
        d.add_text(f.city_key, doc.city.to_lowercase());
        d.add_text(f.category, &doc.category);
        d.add_i64(f.start, doc.start.timestamp());
        d.add_i64(f.local_day, doc.local_day);
        d.add_text(f.summary, doc.summary.to_string());
        writer.add_document(d)?;
        Ok(())
    }

    /// Removes a show (cancelled, sold out, started, drafted).
    pub fn remove(&self, show_id: i64) {
        self.written().remove(&show_id);
        self.writer()
            .delete_term(Term::from_field_i64(self.f.show_id, show_id));
    }

    /// Removes every show (before a rebuild).
    pub fn clear(&self) -> tantivy::Result<()> {
        self.written().clear();
        self.writer().delete_all_documents()?;
        self.complete
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Makes every change visible to searches.
    pub fn commit(&self) -> tantivy::Result<()> {
        self.writer().commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Documents in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tokens(&self, text: &str) -> Vec<String> {
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    /// The clause for one word: exact BM25 matches weighted by field, plus typo-tolerant and (for
    /// the last word being typed) prefix matches at a lower, constant weight.
    fn word_clause(&self, word: &str, prefix: bool) -> Box<dyn Query> {
        let f = self.f;
        let weighted = [
            (f.title, 4.0),
            (f.artists, 3.0),
            (f.tags, 2.0),
            (f.venue, 1.5),
            (f.city, 1.5),
            (f.description, 1.0),
        ];
        let distance = typo_distance(word);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in weighted {
            let term = Term::from_field_text(field, word);
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
                    boost,
                )),
            ));
            if distance > 0 {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new(term.clone(), distance, true)),
                        boost * 0.5,
                    )),
                ));
            }
            if prefix {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new_prefix(term, distance.min(1), true)),
                        boost * 0.6,
                    )),
                ));
            }
        }
        Box::new(BooleanQuery::new(clauses))
    }

    fn filters(&self, query: &SearchQuery, now: DateTime<Utc>) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.f;
        let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let from = query.from.map_or(now, |t| t.max(now));
        let upper = match query.to {
            Some(t) => std::ops::Bound::Included(Term::from_field_i64(f.start, t.timestamp())),
            None => std::ops::Bound::Unbounded,
        };
        out.push((
            Occur::Must,
            Box::new(ConstScoreQuery::new(
                Box::new(RangeQuery::new(
                    std::ops::Bound::Included(Term::from_field_i64(f.start, from.timestamp())),
                    upper,
                )),
                0.0,
            )),
        ));
        if query.from_day.is_some() || query.to_day.is_some() {
            let bound = |d: Option<i64>| match d {
                Some(d) => std::ops::Bound::Included(Term::from_field_i64(f.local_day, d)),
                None => std::ops::Bound::Unbounded,
            };
            out.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(
                    Box::new(RangeQuery::new(bound(query.from_day), bound(query.to_day))),
                    0.0,
                )),
            ));
        }
        if let Some(city) = &query.city {
            out.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.city_key, &city.to_lowercase()),
                        IndexRecordOption::Basic,
                    )),
                    0.0,
                )),
            ));
        }
        if let Some(category) = &query.category {
            out.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(f.category, category),
                        IndexRecordOption::Basic,
                    )),
                    0.0,
                )),
            ));
        }
        out
    }

    /// Runs a search: ranked by relevance, or by date when `q` is empty. Returns the total
    /// number of matches and one page of hits.
    pub fn search(
        &self,
        query: &SearchQuery,
        now: DateTime<Utc>,
    ) -> tantivy::Result<(usize, Vec<Hit>)> {
        let searcher = self.reader.searcher();
        let words = self.tokens(&query.q);
        let typing = !query.q.ends_with(char::is_whitespace);
        let mut clauses = self.filters(query, now);
        for (i, word) in words.iter().enumerate() {
            let last = i + 1 == words.len();
            clauses.push((Occur::Must, self.word_clause(word, last && typing)));
        }
        if words.is_empty() {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        let combined = BooleanQuery::new(clauses);
        let limit = query.limit.max(1);
        let (total, docs): (usize, Vec<(f32, tantivy::DocAddress)>) = if words.is_empty() {
            let (docs, total) = searcher.search(
                &combined,
                &(
                    TopDocs::with_limit(limit)
                        .and_offset(query.offset)
                        .order_by_fast_field::<i64>("start", Order::Asc),
                    Count,
                ),
            )?;
            (total, docs.into_iter().map(|(_, a)| (0.0, a)).collect())
        } else {
            let (docs, total) = searcher.search(
                &combined,
                &(
                    TopDocs::with_limit(limit)
                        .and_offset(query.offset)
                        .order_by_score(),
                    Count,
                ),
            )?;
            (total, docs)
        };
        let mut title_snippets = SnippetGenerator::create(&searcher, &combined, self.f.title)?;
        title_snippets.set_max_num_chars(120);
        let mut description_snippets =
            SnippetGenerator::create(&searcher, &combined, self.f.description)?;
        description_snippets.set_max_num_chars(160);
        let mut hits = Vec::with_capacity(docs.len());
        for (score, address) in docs {
            let doc: TantivyDocument = searcher.doc(address)?;
            let summary = doc
                .get_first(self.f.summary)
                .and_then(|v| v.as_str().map(str::to_owned))
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(serde_json::Value::Null);
            let mut highlights = serde_json::Map::new();
            for (name, generator) in [
                ("title", &title_snippets),
                ("description", &description_snippets),
            ] {
                let snippet = generator.snippet_from_doc(&doc);
                if !snippet.highlighted().is_empty() {
                    highlights.insert(name.into(), snippet.to_html().into());
                }
            }
            hits.push(Hit {
                summary,
                score,
                highlights: highlights.into(),
            });
        }
        Ok((total, hits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(
        id: i64,
        title: &str,
        description: &str,
        city: &str,
        category: &str,
        days: i64,
    ) -> ShowDoc {
        ShowDoc {
            show_id: id,
            title: title.into(),
            description: description.into(),
            tags: vec![],
            artists: vec![],
            venue: "Hall".into(),
            city: city.into(),
            category: category.into(),
            start: Utc::now() + chrono::Duration::days(days),
            local_day: 0,
            summary: serde_json::json!({ "show_id": id, "title": title }),
        }
    }

    fn ids(hits: &[Hit]) -> Vec<i64> {
        hits.iter()
            .filter_map(|h| h.summary["show_id"].as_i64())
            .collect()
    }

    fn index() -> SearchIndex {
        let idx = SearchIndex::open(None).expect("index");
        idx.upsert(&doc(
            1,
            "Pushpa 2: The Rule",
            "Pushpa Raj returns",
            "Bangalore",
            "movie",
            2,
        ))
        .expect("add");
        idx.upsert(&doc(
            2,
            "Arijit Singh Live",
            "Romantic ballads",
            "Bangalore",
            "concert",
            3,
        ))
        .expect("add");
        idx.upsert(&doc(
            3,
            "Film night",
            "Screening of Pushpa and others",
            "Mumbai",
            "movie",
            1,
        ))
        .expect("add");
        idx.commit().expect("commit");
        idx
    }

    fn q(text: &str) -> SearchQuery {
        SearchQuery {
            q: text.into(),
            limit: 10,
            ..Default::default()
        }
    }

    #[test]
    fn typos_and_prefixes_find_the_title() {
        let idx = index();
        for text in ["puspa", "pushp", "PUSHPA", "pushpa 2"] {
            let (_, hits) = idx.search(&q(text), Utc::now()).expect("search");
            assert_eq!(ids(&hits).first(), Some(&1), "{text}");
        }
        let (_, hits) = idx.search(&q("arjit"), Utc::now()).expect("search");
        assert_eq!(ids(&hits), [2]);
    }

    #[test]
    fn an_exact_title_ranks_above_a_description_mention() {
        let idx = index();
        let (total, hits) = idx.search(&q("pushpa "), Utc::now()).expect("search");
        assert_eq!(total, 2);
        assert_eq!(ids(&hits), [1, 3]);
        assert!(hits[0].score > hits[1].score);
        assert!(hits[0].highlights["title"]
            .as_str()
            .is_some_and(|h| h.contains("<b>Pushpa</b>")));
    }

    #[test]
    fn filters_and_empty_queries_list_by_date() {
        let idx = index();
        let mut query = q("");
        query.city = Some("bangalore".into());
        let (_, hits) = idx.search(&query, Utc::now()).expect("search");
        assert_eq!(ids(&hits), [1, 2], "soonest first");
        query.category = Some("concert".into());
        let (_, hits) = idx.search(&query, Utc::now()).expect("search");
        assert_eq!(ids(&hits), [2]);
        let mut query = q("");
        query.to = Some(Utc::now() + chrono::Duration::days(1) + chrono::Duration::hours(1));
        let (_, hits) = idx.search(&query, Utc::now()).expect("search");
        assert_eq!(ids(&hits), [3]);
        idx.remove(3);
        idx.commit().expect("commit");
        let (total, _) = idx.search(&q("pushpa"), Utc::now()).expect("search");
        assert_eq!(total, 1);
    }

    #[test]
    fn typo_budget_grows_with_word_length() {
        assert_eq!(typo_distance("rule"), 0);
        assert_eq!(typo_distance("puspa"), 1);
        assert_eq!(typo_distance("spectacle"), 2);
    }
}

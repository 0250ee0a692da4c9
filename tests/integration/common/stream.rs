//! A server-sent events client for the seat stream, as a browser's `EventSource` reads it.

use std::time::{Duration, Instant};

use std::collections::HashMap;

use serde_json::Value;

/// A server-sent events client: the events as (name, id, data).
pub struct EventStream {
    body: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// Reads the events of an answered stream request.
    pub fn new(body: reqwest::Response) -> Self {
        Self {
            body,
            buffer: String::new(),
        }
    }

    /// What arrived and is not yet an event.
    pub fn unread(&self) -> &str {
        &self.buffer
    }

    /// The next event (skipping comments and the retry line), within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<(String, u64, Value)> {
        let deadline = Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::new();
                let mut id = 0;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse().expect("numeric id");
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if !name.is_empty() {
                    return Some((name, id, serde_json::from_str(&data).expect("json data")));
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.body.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }

    /// Waits for a `seats` event that sets `index` to `status`.
    pub async fn until(&mut self, index: usize, status: &str, within: Duration) -> (u64, Instant) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no event set seat {index} to {status}"));
            let (name, id, data) = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("no event set seat {index} to {status}"));
            if name == "seats"
                && data["changes"]
                    .as_array()
                    .expect("changes")
                    .iter()
                    .any(|c| c[0] == index && c[1] == status)
            {
                return (id, Instant::now());
            }
        }
    }
}

/// Each seat label's index in the packed availability, from the show's layout (rows in order,
/// each row's runs of seat numbers).
pub fn layout_indexes(layout: &Value) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let mut index = 0;
    for row in layout["rows"].as_array().expect("rows") {
        let label = row["label"].as_str().expect("label");
        for run in row["runs"].as_array().expect("runs") {
            let (number, count) = (run[0].as_i64().expect("n"), run[2].as_i64().expect("c"));
            for n in number..number + count {
                out.insert(format!("{label}{n}"), index);
                index += 1;
            }
        }
    }
    out
}

//! The catalog filter both the show list and search take: category, city and a date or time
//! range, parsed once into types (`?cat=&city=` mean "absent").

use serde_json::json;

use super::time::{parse_time_filter, TimeFilter};
use super::Category;
use crate::error::{ApiError, ApiResult};

/// A parsed `cat`, `city`, `from` and `to`.
#[derive(Debug, Clone, Default)]
pub struct CatalogFilter {
    pub category: Option<Category>,
    pub city: Option<String>,
    pub from: Option<TimeFilter>,
    pub to: Option<TimeFilter>,
}

impl CatalogFilter {
    /// Parses the raw query values: 400 naming the field for an unknown category, a time that
    /// is neither a date nor RFC 3339, or a range that ends before it starts.
    pub fn parse(
        cat: Option<&str>,
        city: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> ApiResult<Self> {
        // The seed's exact answer for an unknown category: `details: {"category": …}`.
        let category = match cat.map(str::trim) {
            None | Some("") | Some("all") => None,
            Some(c) => Some(Category::parse(c).ok_or_else(|| {
                ApiError::invalid("category must be one of: movie, concert, all")
                    .with_details(json!({ "category": c }))
            })?),
        };
        let time = |field: &str, raw: Option<&str>| -> ApiResult<Option<TimeFilter>> {
            match raw.map(str::trim) {
                None | Some("") => Ok(None),
                Some(r) => parse_time_filter(r).map(Some).ok_or_else(|| {
                    ApiError::invalid_field(
                        field,
                        format!("{field} must be a date (2026-01-10) or an RFC 3339 time"),
                    )
                }),
            }
        };
        let from = time("from", from)?;
        let to = time("to", to)?;
        let backwards = match (&from, &to) {
            (Some(TimeFilter::Date(a)), Some(TimeFilter::Date(b))) => a > b,
            (Some(TimeFilter::Instant(a)), Some(TimeFilter::Instant(b))) => a > b,
            _ => false,
        };
        if backwards {
            return Err(ApiError::invalid_field("to", "to must not be before from"));
        }
        Ok(Self {
            category,
            city: city.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()),
            from,
            to,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_bad_ones_are_named() {
        let f = CatalogFilter::parse(Some(""), Some("  "), Some(""), None).expect("parses");
        assert!(f.category.is_none() && f.city.is_none() && f.from.is_none());
        let f = CatalogFilter::parse(Some("movie"), Some(" Pune "), None, None).expect("ok");
        assert_eq!(f.category, Some(Category::Movie));
        assert_eq!(f.city.as_deref(), Some("Pune"));
        assert!(CatalogFilter::parse(Some("sports"), None, None, None).is_err());
        assert!(CatalogFilter::parse(None, None, Some("2026-02-01"), Some("2026-01-01")).is_err());
        assert!(CatalogFilter::parse(None, None, Some("yesterday"), None).is_err());
    }
}

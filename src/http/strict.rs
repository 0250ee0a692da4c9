//! A deserializer wrapper that makes serde stricter than its defaults, for request bodies:
//!
//! - a struct is only ever read from a JSON object: serde's derive also accepts an array of the
//!   fields in order (`"payment": ["card", "tok_declined"]`), which no client means;
//! - text never contains a NUL character (PostgreSQL refuses it; SQLite would store it).
//!
//! It wraps every nested deserializer it hands out, so the rules hold at any depth, and it
//! composes with `serde_path_to_error`, which names the offending field.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The message of a refused NUL character.
pub const NUL_MESSAGE: &str = "text must not contain NUL characters";

/// Wraps a deserializer so that the rules above hold for everything it reads.
pub struct Strict<D>(pub D);

struct StrictVisitor<V> {
    inner: V,
    /// Set when the caller asked for a struct: a sequence is refused.
    object_only: bool,
}

impl<V> StrictVisitor<V> {
    fn new(inner: V) -> Self {
        Self {
            inner,
            object_only: false,
        }
    }
}

struct StrictSeed<S>(S);
struct StrictSeq<A>(A);
struct StrictMap<A>(A);

macro_rules! forward_deserialize {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.0.$method(StrictVisitor::new(visitor))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_unit_struct(name, StrictVisitor::new(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_newtype_struct(name, StrictVisitor::new(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple(len, StrictVisitor::new(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_tuple_struct(name, len, StrictVisitor::new(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let visitor = StrictVisitor {
            inner: visitor,
            object_only: true,
        };
        self.0.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_enum(name, variants, StrictVisitor::new(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

fn check_text<E: de::Error>(text: &str) -> Result<(), E> {
    if text.contains('\0') {
        Err(E::custom(NUL_MESSAGE))
    } else {
        Ok(())
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StrictVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_char(char),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    /// A number written with a fraction of zero (`3.0`) is the integer it equals, as in JSON
    /// Schema: an integer field takes it, a float field takes it as ever.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact
        if v.fract() == 0.0 && v.abs() < LIMIT {
            // Exact: |v| < 2^53 and integral.
            #[allow(clippy::cast_possible_truncation)]
            let n = v as i64;
            return if n >= 0 {
                self.inner.visit_u64(n.unsigned_abs())
            } else {
                self.inner.visit_i64(n)
            };
        }
        self.inner.visit_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        check_text(v)?;
        self.inner.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        check_text(v)?;
        self.inner.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        check_text(&v)?;
        self.inner.visit_string(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Strict(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Strict(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        if self.object_only {
            return Err(de::Error::custom("expected a JSON object, found an array"));
        }
        self.inner.visit_seq(StrictSeq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(StrictMap(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrictSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next_element_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for StrictMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        self.0.next_key_seed(StrictSeed(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        self.0.next_value_seed(StrictSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Payment {
        method: String,
        token: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        tags: Vec<String>,
        payment: Option<Payment>,
        nested: Option<Vec<Payment>>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(Strict(&mut de))
            .map_err(|e| format!("{}: {}", e.path().clone(), e.into_inner()))
    }

    #[test]
    fn objects_and_arrays_where_they_belong_pass() {
        let body = parse(
            r#"{"name":"a","tags":["x","y"],"payment":{"method":"card","token":"t"},
                "nested":[{"method":"card","token":"u"}]}"#,
        )
        .expect("valid body");
        assert_eq!(body.tags, ["x", "y"]);
    }

    #[test]
    fn an_array_in_place_of_an_object_is_refused_with_its_path() {
        let err = parse(r#"{"name":"a","tags":[],"payment":["card","tok_declined"]}"#)
            .expect_err("array for a struct");
        assert!(err.starts_with("payment: expected a JSON object"), "{err}");
        let err = parse(r#"{"name":"a","tags":[],"nested":[["card","t"]]}"#)
            .expect_err("nested array for a struct");
        assert!(
            err.starts_with("nested[0]: expected a JSON object"),
            "{err}"
        );
    }

    #[test]
    fn nul_characters_are_refused_at_any_depth() {
        for (json, path) in [
            (r#"{"name":"a\u0000b","tags":[]}"#, "name"),
            (r#"{"name":"a","tags":["ok","\u0000"]}"#, "tags[1]"),
            (
                r#"{"name":"a","tags":[],"payment":{"method":"card","token":"\u0000"}}"#,
                "payment.token",
            ),
        ] {
            let err = parse(json).expect_err("NUL");
            assert!(err.starts_with(&format!("{path}: {NUL_MESSAGE}")), "{err}");
        }
    }

    #[derive(Debug, Deserialize)]
    struct Numbers {
        count: i32,
        small: u8,
        price: f64,
    }

    #[test]
    fn integral_floats_are_integers_and_fractions_are_refused_for_integers() {
        let read = |json: &str| {
            let mut de = serde_json::Deserializer::from_str(json);
            serde_path_to_error::deserialize::<_, Numbers>(Strict(&mut de))
                .map_err(|e| format!("{}: {}", e.path().clone(), e.into_inner()))
        };
        let n = read(r#"{"count":-20480.0,"small":3.0,"price":2.0}"#).expect("integral floats");
        assert_eq!((n.count, n.small, n.price), (-20480, 3, 2.0));
        let n = read(r#"{"count":1,"small":0,"price":249.5}"#).expect("plain");
        assert_eq!((n.count, n.small, n.price), (1, 0, 249.5));
        let err = read(r#"{"count":1.5,"small":0,"price":1}"#).expect_err("a fraction");
        assert!(
            err.starts_with("count: invalid type: floating point"),
            "{err}"
        );
        let err = read(r#"{"count":1,"small":300.0,"price":1}"#).expect_err("out of range");
        assert!(err.starts_with("small: invalid value"), "{err}");
        let err = read(r#"{"count":1e300,"small":0,"price":1}"#).expect_err("huge");
        assert!(
            err.starts_with("count: invalid type: floating point"),
            "{err}"
        );
    }
}

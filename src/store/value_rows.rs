//! Statements over a table of values that a batch supplies: `… FROM <rows> AS d …`, written
//! once for both backends. Only the row source differs:
//!
//! - PostgreSQL: `unnest($1::int8[], $2::text[]) AS d(a, b)`. The text is the same whatever the
//!   number of rows, so diesel prepares it once per connection (the statement's type is its
//!   cache key) and each batch costs one round trip, with no parse or plan. A text that
//!   changes with the batch is prepared as an unnamed statement: a round trip of its own plus
//!   a parse and plan, every batch (issue 14's profile of the group commit).
//! - SQLite: `(SELECT column1 AS a, … FROM (VALUES (?, ?), …)) AS d`: the text grows with the
//!   rows and is never cached, which SQLite's in-process prepare makes cheap.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Text, Untyped};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;

/// One column of the rows, all columns of a statement being as long as each other.
pub enum Column {
    Int(Vec<i64>),
    Text(Vec<String>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Int(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }
}

/// A statement's fixed text around its rows: `{HEAD}<rows> AS d(NAMES){TAIL}`. A type per
/// statement, because PostgreSQL's prepared statements are cached by type.
pub trait Shape: Send + 'static {
    const HEAD: &'static str;
    /// The columns' names in `d`, in `Column` order.
    const NAMES: &'static [&'static str];
    const TAIL: &'static str;
}

/// `S` over these rows. Its rows must not be empty: SQLite has no empty `VALUES`.
pub struct OverRows<S> {
    columns: Vec<Column>,
    shape: PhantomData<S>,
}

impl<S: Shape> OverRows<S> {
    pub fn new(columns: Vec<Column>) -> Self {
        OverRows {
            columns,
            shape: PhantomData,
        }
    }

    fn rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }
}

impl<S: Shape> Query for OverRows<S> {
    type SqlType = Untyped;
}

impl<S: Shape> QueryId for OverRows<S> {
    type QueryId = S;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<S: Shape, C> diesel::RunQueryDsl<C> for OverRows<S> {}

impl<S: Shape> QueryFragment<Pg> for OverRows<S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(S::HEAD);
        out.push_sql("unnest(");
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            match column {
                Column::Int(v) => {
                    out.push_bind_param::<Array<BigInt>, _>(v)?;
                    out.push_sql("::int8[]");
                }
                Column::Text(v) => {
                    out.push_bind_param::<Array<Text>, _>(v)?;
                    out.push_sql("::text[]");
                }
            }
        }
        out.push_sql(") AS d(");
        out.push_sql(&S::NAMES.join(", "));
        out.push_sql(")");
        out.push_sql(S::TAIL);
        Ok(())
    }
}

impl<S: Shape> QueryFragment<Sqlite> for OverRows<S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        // The text depends on the number of rows: a cache keyed by the type would hand one
        // batch's statement to the next.
        out.unsafe_to_cache_prepared();
        out.push_sql(S::HEAD);
        out.push_sql("(SELECT ");
        for (i, name) in S::NAMES.iter().enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            out.push_sql(&format!("{sep}column{} AS {name}", i + 1));
        }
        out.push_sql(" FROM (VALUES ");
        for row in 0..self.rows() {
            out.push_sql(if row > 0 { ", (" } else { "(" });
            for (i, column) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.push_sql(", ");
                }
                match column {
                    Column::Int(v) => out.push_bind_param::<BigInt, _>(cell(v, row)?)?,
                    Column::Text(v) => out.push_bind_param::<Text, _>(cell(v, row)?)?,
                }
            }
            out.push_sql(")");
        }
        out.push_sql(")) AS d");
        out.push_sql(S::TAIL);
        Ok(())
    }
}

/// A column shorter than the first is the caller's bug; it fails the statement, not the process.
fn cell<T>(column: &[T], row: usize) -> QueryResult<&T> {
    column
        .get(row)
        .ok_or_else(|| diesel::result::Error::QueryBuilderError("columns of unequal length".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::debug_query;

    struct Bump;
    impl Shape for Bump {
        const HEAD: &'static str = "UPDATE t SET x = x + d.n FROM ";
        const NAMES: &'static [&'static str] = &["id", "n"];
        const TAIL: &'static str = " WHERE t.id = d.id";
    }

    fn rows(n: i64) -> OverRows<Bump> {
        OverRows::new(vec![
            Column::Int((0..n).collect()),
            Column::Int((0..n).map(|i| i * 10).collect()),
        ])
    }

    #[test]
    fn postgres_gets_one_text_whatever_the_rows() {
        let one = debug_query::<Pg, _>(&rows(1)).to_string();
        let three = debug_query::<Pg, _>(&rows(3)).to_string();
        let text = |s: &str| s.split(" -- binds").next().unwrap_or_default().to_string();
        assert_eq!(text(&one), text(&three));
        assert!(one.starts_with(
            "UPDATE t SET x = x + d.n FROM unnest($1::int8[], $2::int8[]) AS d(id, n) WHERE t.id = d.id"
        ));
    }

    #[test]
    fn sqlite_gets_a_values_list_of_the_rows() {
        let two = debug_query::<Sqlite, _>(&rows(2)).to_string();
        assert!(two.starts_with(
            "UPDATE t SET x = x + d.n FROM (SELECT column1 AS id, column2 AS n FROM \
             (VALUES (?, ?), (?, ?))) AS d WHERE t.id = d.id"
        ));
    }

    #[test]
    fn a_short_column_fails_the_statement() {
        let bad: OverRows<Bump> =
            OverRows::new(vec![Column::Int(vec![1, 2]), Column::Int(vec![1])]);
        assert!(QueryFragment::<Sqlite>::to_sql(
            &bad,
            &mut <Sqlite as diesel::backend::Backend>::QueryBuilder::default(),
            &Sqlite
        )
        .is_err());
    }
}

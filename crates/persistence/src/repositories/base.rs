//! The generic repository every model's repository is built on (the
//! template's `BaseRepository`): create, get by any column, list with a
//! filter, an allow-listed sort and a page, count, update, delete, and eager
//! loading of related rows without N+1 queries.
//! It speaks entity models; per-model repositories wrap it and convert to
//! domain types.

use std::{fmt::Display, marker::PhantomData, str::FromStr};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, Iterable, LoaderTrait,
    ModelTrait, Order, PaginatorTrait, PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect,
    Related, Value, sea_query::IntoCondition,
};

use domain::{Page, Sort};

use crate::{Connection, Error, Result};

/// Generic storage of entity `E`.
#[derive(Debug, Clone, Copy)]
pub struct BaseRepository<E> {
    /// Name used in errors (`task`, `user`).
    entity: &'static str,
    /// Columns a list may be sorted by.
    sortable: &'static [&'static str],
    /// Columns with unique constraints, to recognise conflicts.
    unique: &'static [&'static str],
    _entity: PhantomData<fn() -> E>,
}

impl<E> BaseRepository<E>
where
    E: EntityTrait,
    E::Model: Sync + Send + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    pub const fn new(
        entity: &'static str,
        sortable: &'static [&'static str],
        unique: &'static [&'static str],
    ) -> Self {
        Self {
            entity,
            sortable,
            unique,
            _entity: PhantomData,
        }
    }

    fn not_found(&self, id: impl Display) -> Error {
        Error::NotFound {
            entity: self.entity,
            id: id.to_string(),
        }
    }

    /// Inserts a row and returns it as stored.
    pub async fn create(&self, conn: &impl Connection, row: E::ActiveModel) -> Result<E::Model> {
        E::insert(row)
            .exec_with_returning(conn)
            .await
            .map_err(|err| Error::from_write(err, self.entity, self.unique))
    }

    /// The row whose `column` equals `value`, if any (by id, uuid, email, ...).
    pub async fn find_by(
        &self,
        conn: &impl Connection,
        column: E::Column,
        value: impl Into<Value>,
    ) -> Result<Option<E::Model>> {
        Ok(E::find().filter(column.eq(value)).one(conn).await?)
    }

    /// Like [`Self::find_by`], but a missing row is [`Error::NotFound`].
    pub async fn get_by(
        &self,
        conn: &impl Connection,
        column: E::Column,
        value: impl Into<Value> + Display + Clone,
    ) -> Result<E::Model> {
        self.find_by(conn, column, value.clone())
            .await?
            .ok_or_else(|| self.not_found(value))
    }

    fn order(&self, sort: Option<&Sort>) -> Result<Vec<(E::Column, Order)>> {
        let mut order = Vec::new();
        if let Some(sort) = sort {
            let column = self
                .sortable
                .contains(&sort.field.as_str())
                .then(|| E::Column::from_str(&sort.field).ok())
                .flatten()
                .ok_or_else(|| Error::InvalidSort {
                    requested: sort.field.clone(),
                    allowed: self.sortable.join(", "),
                })?;
            let direction = if sort.descending {
                Order::Desc
            } else {
                Order::Asc
            };
            order.push((column, direction));
        }
        // The primary key last, so pages are stable when sort values tie.
        for key in E::PrimaryKey::iter() {
            order.push((key.into_column(), Order::Asc));
        }
        Ok(order)
    }

    /// A page of rows matching `filter`, in `sort` order (then by primary key).
    pub async fn list(
        &self,
        conn: &impl Connection,
        filter: Condition,
        sort: Option<&Sort>,
        page: Page,
    ) -> Result<Vec<E::Model>> {
        let mut query = E::find().filter(filter);
        for (column, direction) in self.order(sort)? {
            query = query.order_by(column, direction);
        }
        Ok(query
            .offset(page.offset)
            .limit(page.limit)
            .all(conn)
            .await?)
    }

    /// A page of the rows matching `filter` and the total of all of them.
    /// The total costs a second query only when the page cannot tell it: a
    /// non-empty page shorter than its limit is the end of the list, so the
    /// total is its offset plus its length (and an empty first page means
    /// none at all).
    pub async fn page(
        &self,
        conn: &impl Connection,
        filter: Condition,
        sort: Option<&Sort>,
        page: Page,
    ) -> Result<(Vec<E::Model>, u64)> {
        let rows = self.list(conn, filter.clone(), sort, page).await?;
        let len = rows.len() as u64;
        let total = if len < page.limit && (len > 0 || page.offset == 0) {
            page.offset + len
        } else {
            self.count(conn, filter).await?
        };
        Ok((rows, total))
    }

    /// How many rows match `filter`.
    pub async fn count(&self, conn: &impl Connection, filter: Condition) -> Result<u64> {
        Ok(E::find().filter(filter).count(conn).await?)
    }

    /// Writes the changed fields of `row` and returns it as stored.
    pub async fn update(&self, conn: &impl Connection, row: E::ActiveModel) -> Result<E::Model> {
        row.update(conn).await.map_err(|err| match err {
            sea_orm::DbErr::RecordNotUpdated => self.not_found("(row)"),
            err => Error::from_write(err, self.entity, self.unique),
        })
    }

    /// Deletes the rows matching `filter`; none is [`Error::NotFound`],
    /// naming `id` (what the filter selects).
    pub async fn delete(
        &self,
        conn: &impl Connection,
        filter: impl IntoCondition,
        id: impl Display,
    ) -> Result<()> {
        let deleted = E::delete_many().filter(filter).exec(conn).await?;
        if deleted.rows_affected == 0 {
            return Err(self.not_found(id));
        }
        Ok(())
    }

    /// A page of rows, each with its related `R` rows, in two queries
    /// whatever the page size (the template's `join_` sets, without N+1).
    pub async fn list_with_related<R>(
        &self,
        conn: &impl Connection,
        filter: Condition,
        sort: Option<&Sort>,
        page: Page,
    ) -> Result<Vec<(E::Model, Vec<R::Model>)>>
    where
        R: EntityTrait,
        R::Model: Send + Sync,
        E: Related<R>,
        E::Model: ModelTrait<Entity = E>,
    {
        let rows = self.list(conn, filter, sort, page).await?;
        let related = rows.load_many(R::find(), conn).await?;
        Ok(rows.into_iter().zip(related).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::Sort;

    #[test]
    fn sort_parses_direction() {
        assert_eq!(
            Sort::parse("-created_at"),
            Sort {
                field: "created_at".into(),
                descending: true
            }
        );
        assert!(!Sort::parse("title").descending);
    }
}

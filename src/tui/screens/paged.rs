//! A list read from the bank a page at a time (the search or filter runs in SQL over the whole table): the
//! rows loaded so far, and where the next page starts.

use crate::app::Page;
use crate::app::{Bank, Result};
use crate::core::ids::Id;
use crate::store::Stored;
use crate::tui::screen::Ctx;

pub struct Paged<T> {
    pub rows: Vec<T>,
    /// Where the next page starts (None: every row is loaded).
    pub next: Option<Stored<Id>>,
    /// How many rows the whole list holds, when the bank counts them.
    pub total: Option<usize>,
}

impl<T> Default for Paged<T> {
    fn default() -> Self {
        Paged { rows: Vec::new(), next: None, total: None }
    }
}

impl<T> Paged<T> {
    /// Loads the first page through `fetch`, or (`more`) the next one; says `everything` when there is no next
    /// page. Keeps `sel` within the rows.
    pub fn load(
        &mut self,
        ctx: &mut Ctx,
        more: bool,
        everything: &str,
        sel: &mut usize,
        fetch: impl FnOnce(&mut Bank, Option<&Stored<Id>>) -> Result<Page<T>>,
    ) {
        let after = if more { self.next.clone() } else { None };
        if more && after.is_none() {
            return ctx.info(everything);
        }
        match fetch(ctx.bank, after.as_ref()) {
            Ok(page) => {
                if !more {
                    self.rows.clear();
                }
                self.rows.extend(page.rows);
                self.next = page.next;
                self.total = page.total;
            }
            Err(e) => ctx.fail(e),
        }
        *sel = (*sel).min(self.rows.len().saturating_sub(1));
    }

    /// Reads the list again after a change to the bank: as many rows as were loaded (at least `page`), in one
    /// read, so that the pages read stay; the selection stays on the record it was on (`id` of a row). Returns
    /// that record when it left the list (the selection is then on its neighbour).
    pub fn reload(
        &mut self,
        ctx: &mut Ctx,
        sel: &mut usize,
        page: usize,
        id: impl Fn(&T) -> Option<&Id>,
        fetch: impl FnOnce(&mut Bank, usize) -> Result<Page<T>>,
    ) -> Option<Id> {
        let kept = self.rows.get(*sel).and_then(|r| id(r).cloned());
        let limit = self.rows.len().max(page);
        self.load(ctx, false, "", sel, |bank, _| fetch(bank, limit));
        let kept = kept?;
        match self.rows.iter().position(|r| id(r) == Some(&kept)) {
            Some(i) => {
                *sel = i;
                None
            }
            None => Some(kept),
        }
    }
}

//! What a tenant file holds, for operators (`kiroku tenant stats`) and
//! the file-growth bench: redb's own figures for the file and each table.

use redb::{ReadableDatabase, ReadableTableMetadata, TableHandle};

use super::{StoreResult, TenantStore};

/// One table's figures.
#[derive(Debug, Clone)]
pub struct TableFigures {
    /// The table's name.
    pub name: String,
    /// Rows.
    pub rows: u64,
    /// B-tree height.
    pub height: u32,
    /// Bytes of keys and values.
    pub stored: u64,
    /// Bytes of branch pages and other metadata.
    pub metadata: u64,
    /// Bytes lost to fragmentation inside its pages.
    pub fragmented: u64,
}

/// A tenant file's figures.
#[derive(Debug, Clone)]
pub struct FileFigures {
    /// Pages allocated.
    pub allocated_pages: u64,
    /// Page size.
    pub page_size: usize,
    /// Bytes allocated but holding nothing (free pages and fragmentation).
    pub fragmented: u64,
    /// Bytes of keys and values in all tables.
    pub stored: u64,
    /// Each table, the largest first.
    pub tables: Vec<TableFigures>,
}

impl TenantStore {
    /// The file's figures (a write transaction, aborted, for the
    /// allocator's; it waits for a write under way).
    pub fn figures(&self) -> StoreResult<FileFigures> {
        let write = self.db().begin_write()?;
        let stats = write.stats()?;
        write.abort()?;
        let read = self.db().begin_read()?;
        let mut tables = Vec::new();
        for handle in read.list_tables()? {
            let name = handle.name().to_owned();
            let table = read.open_untyped_table(handle)?;
            let s = table.stats()?;
            tables.push(TableFigures {
                name,
                rows: table.len()?,
                height: s.tree_height(),
                stored: s.stored_bytes(),
                metadata: s.metadata_bytes(),
                fragmented: s.fragmented_bytes(),
            });
        }
        tables.sort_by_key(|t| std::cmp::Reverse(t.stored + t.metadata + t.fragmented));
        Ok(FileFigures {
            allocated_pages: stats.allocated_pages(),
            page_size: stats.page_size(),
            fragmented: stats.fragmented_bytes(),
            stored: stats.stored_bytes(),
            tables,
        })
    }
}

//! The source both benchmarks import from: an in-memory directory of generated people, built as
//! they are read, so the figures measure syncfold and not the source.

use syncfold::core::*;
use syncfold::engine::{Connector, ImportRequest, RunContext};

/// Object `id` as a directory would return it: a DN-like anchor and a few attributes.
pub fn object(id: u64) -> ObjectChange {
    let attribute = |name: &str, value: String| (name.to_owned(), AttributeValue::Single(value));
    ObjectChange {
        anchor: Anchor(format!("uid=u{id:08},ou=people,dc=example,dc=org")),
        kind: ChangeKind::Add,
        attributes: Attributes(
            [
                attribute("cn", format!("User {id}")),
                attribute("mail", format!("u{id}@example.org")),
                attribute("employeeNumber", id.to_string()),
            ]
            .into_iter()
            .collect(),
        ),
    }
}

/// An in-memory directory: serves `total` objects in pages of `page_size`, built as they are read.
pub struct Directory {
    next: u64,
    total: u64,
    page_size: u64,
    pages: u64,
}

impl Connector for Directory {
    async fn open_run(&mut self, _context: &RunContext) -> Result<(), Fault> {
        self.next = 0;
        self.pages = 0;
        Ok(())
    }

    async fn import_page(&mut self, _request: &ImportRequest) -> Result<Option<Page>, Fault> {
        if self.next >= self.total {
            return Ok(None);
        }
        let end = (self.next + self.page_size).min(self.total);
        let changes = (self.next..end).map(object).collect();
        self.next = end;
        self.pages += 1;
        Ok(Some(Page {
            changes,
            watermark: Some(Watermark::from_text(&format!("usn-{}", self.pages))),
            ..Page::default()
        }))
    }

    async fn export(
        &mut self,
        _context: &RunContext,
        _batch: &[ExportChange],
    ) -> Result<Vec<(Anchor, ExportOutcome)>, Fault> {
        Ok(Vec::new())
    }
}

impl Directory {
    /// A directory of `total` objects served in pages of `page_size`.
    pub fn new(total: u64, page_size: u64) -> Self {
        Directory {
            next: 0,
            total,
            page_size,
            pages: 0,
        }
    }
}

//! `explain watermark` tells the objects that hold the committed watermark back from the objects
//! still in error that the watermark has already moved past (issue 16's misleading case: run 1
//! fails on `u9` on page B and commits A; run 2 reads B and C without `u9` and commits C; `u9` does
//! not hold C back, and a delta import may never read it again).

use syncfold::core::*;
use syncfold::remedy::RemedyCatalog;
use syncfold::script::{ImportPage, Player, Step};
use syncfold::views::explain::watermark;

fn page(mark: &str, failing: Option<&str>) -> ImportPage {
    let mut page = Page {
        watermark: Some(Watermark::from_text(mark)),
        ..Page::default()
    };
    if let Some(anchor) = failing {
        page.errors.push(DiscoveryError {
            anchor: Anchor::from(anchor),
            kind: ObjectErrorKind::CustomContinueRun,
            name: "invalid-characters-error".into(),
            description: "a control character in cn".into(),
        });
    }
    ImportPage::Page(page)
}

fn delta(pages: Vec<ImportPage>) -> Step {
    Step::Import {
        partition: PartitionName::from("people"),
        kind: RunKind::DeltaImport,
        pages,
    }
}

fn anchors(objects: &[syncfold::views::explain::HoldingObject]) -> Vec<&str> {
    objects
        .iter()
        .map(|object| object.anchor.as_str())
        .collect()
}

#[test]
fn an_error_the_watermark_moved_past_is_named_as_such_not_as_holding_it_back() {
    let (hr, people) = (ConnectorName::from("hr"), PartitionName::from("people"));
    let settings = Settings::default();
    let catalog = RemedyCatalog::builtin();
    let mut player = Player::new(Actor::from_name("t"), Timestamp(0), 1);
    player
        .play(
            &hr,
            &settings,
            &delta(vec![page("A", None), page("B", Some("u9"))]),
        )
        .expect("run 1");
    let after_one = watermark(player.state(), &hr, &people, &catalog).expect("explained");
    assert_eq!(after_one.committed_watermark.as_deref(), Some("A"));
    assert_eq!(
        anchors(&after_one.holding_objects),
        ["u9"],
        "u9 holds A back"
    );
    assert!(after_one.moved_past_objects.is_empty());

    player
        .play(
            &hr,
            &settings,
            &delta(vec![page("B", None), page("C", None)]),
        )
        .expect("run 2");
    let after_two = watermark(player.state(), &hr, &people, &catalog).expect("explained");
    assert_eq!(after_two.committed_watermark.as_deref(), Some("C"));
    assert!(
        after_two.holding_objects.is_empty(),
        "nothing holds C back: {:?}",
        anchors(&after_two.holding_objects)
    );
    assert_eq!(anchors(&after_two.moved_past_objects), ["u9"]);
    assert!(after_two.remedy.is_some(), "says what to do: a full import");
}

#[test]
fn an_error_in_the_committing_run_still_holds_the_watermark_back() {
    // Run 2 fails on u9 again on its second page: it commits its first page, and u9 holds it back.
    let (hr, people) = (ConnectorName::from("hr"), PartitionName::from("people"));
    let settings = Settings::default();
    let catalog = RemedyCatalog::builtin();
    let mut player = Player::new(Actor::from_name("t"), Timestamp(0), 1);
    for pages in [
        vec![page("A", None), page("B", Some("u9"))],
        vec![page("B2", None), page("C", Some("u9"))],
    ] {
        player.play(&hr, &settings, &delta(pages)).expect("runs");
    }
    let explained = watermark(player.state(), &hr, &people, &catalog).expect("explained");
    assert_eq!(explained.committed_watermark.as_deref(), Some("B2"));
    assert_eq!(anchors(&explained.holding_objects), ["u9"]);
    assert!(explained.moved_past_objects.is_empty());
}

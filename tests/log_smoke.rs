use syncfold::core::*;
use syncfold::log::*;
use syncfold::script::Player;

#[test]
fn demo_round_trips_through_sled() {
    let dir = std::env::temp_dir().join(format!("syncfold-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = syncfold::demo::week();
    let mut player = Player::new(Actor::from_name("t"), Timestamp(0), 1);
    player.play_script(&script).unwrap();
    {
        let store = SledStore::open(&dir).unwrap();
        let options = LogOptions {
            snapshot_every: 20,
            ..LogOptions::default()
        };
        let (mut log, report) = Log::open(store, options, Timestamp(0)).unwrap();
        assert_eq!(report.records_folded, 0);
        for envelope in player.log() {
            log.append(envelope).unwrap();
        }
        let durable = log.flush().unwrap();
        assert_eq!(durable.seq(), player.log().len() as u64);
    }
    let store = SledStore::open(&dir).unwrap();
    let report = verify(&store).unwrap();
    println!("{report:?}");
    let (log, report) = Log::open(store, LogOptions::default(), Timestamp(0)).unwrap();
    println!("{report:?}");
    assert_eq!(
        codec::state_hash(log.state()).unwrap(),
        codec::state_hash(player.state()).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

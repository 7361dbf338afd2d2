//! After a harness owner is killed with SIGKILL, the next run reaps exactly its leftovers (found
//! through the run records), and a control plane whose owner is alive, such as one a human
//! started with `meshes-testenv`, keeps running.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use meshes_testenv::runrecord::{ChildRecord, RunRecord, reap_stale};
use meshes_testenv::{bins, procfs};

fn start_owner(cache: &Path, env_file: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_meshes-testenv"))
        .arg("--env-file")
        .arg(env_file)
        .env("MESHES_TESTENV_CACHE", cache)
        .env("MESHES_TESTENV_BIN", bins::bin_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start meshes-testenv")
}

fn record_of(run_dir: &Path, owner: u32) -> Option<RunRecord> {
    std::fs::read_dir(run_dir).ok()?.flatten().find_map(|e| {
        let r: RunRecord = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
        (r.owner_pid == owner).then_some(r)
    })
}

fn wait_for_children(run_dir: &Path, owner: u32) -> RunRecord {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // etcd, kube-apiserver and kube-controller-manager: all three are reaped.
        if let Some(r) = record_of(run_dir, owner).filter(|r| r.children.len() == 3) {
            assert_eq!(r.children[2].name, "kube-controller-manager");
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "owner {owner} never recorded its children"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn alive(c: &ChildRecord) -> bool {
    procfs::is_same_process(c.pid, c.start)
}

#[test]
fn a_killed_owner_is_reaped_and_a_live_one_is_left_alone() {
    bins::binary("kube-apiserver").expect("pinned binaries (run testenv/scripts/build.sh)");
    let cache = std::env::temp_dir().join(format!("meshes-reap-test-{}", std::process::id()));
    let run_dir = cache.join("run");

    let human_ready = cache.join("human.env");
    let mut human = start_owner(&cache, &human_ready);
    let human_record = wait_for_children(&run_dir, human.id());
    let mut victim = start_owner(&cache, &cache.join("victim.env"));
    let victim_record = wait_for_children(&run_dir, victim.id());

    // kill -9 the victim owner: it gets no chance to clean up its record.
    victim.kill().unwrap();
    victim.wait().unwrap();
    // Simulate a leftover that outlived its owner (PR_SET_PDEATHSIG is per thread and can be
    // missed): a process recorded under the dead owner that is still running.
    let mut leftover = Command::new("sleep").arg("600").spawn().unwrap();
    let mut record = record_of(&run_dir, victim.id()).expect("victim record survives kill -9");
    record.children.push(ChildRecord {
        pid: leftover.id(),
        start: procfs::start_time(leftover.id()).unwrap(),
        name: "leftover".into(),
    });
    record.save(&run_dir).unwrap();

    let report = reap_stale(&run_dir);

    assert_eq!(report.records_reaped, 1, "{report:?}");
    assert!(
        report.processes_killed.contains(&leftover.id()),
        "{report:?}"
    );
    assert!(leftover.wait().is_ok());
    assert!(
        record_of(&run_dir, victim.id()).is_none(),
        "victim record removed"
    );
    assert!(!victim_record.work_dir.exists(), "victim work dir removed");
    // The victim's own control plane died with it (parent-death signal).
    let deadline = Instant::now() + Duration::from_secs(20);
    while victim_record.children.iter().any(alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !victim_record.children.iter().any(alive),
        "victim children still running"
    );
    // Positive control: the human's control plane is untouched and still recorded.
    assert_eq!(report.records_alive, 1, "{report:?}");
    assert!(
        human_record.children.iter().all(alive),
        "human control plane was killed"
    );
    assert!(record_of(&run_dir, human.id()).is_some());

    // Ctrl-C equivalent, once the human's control plane is ready (it writes its env file then).
    let deadline = Instant::now() + Duration::from_secs(120);
    while !human_ready.exists() {
        assert!(
            Instant::now() < deadline,
            "human control plane never became ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        std::fs::read_to_string(&human_ready)
            .unwrap()
            .contains("export KUBECONFIG=")
    );
    // The human command stops cleanly and removes its record.
    meshes_testenv_sigterm(human.id());
    let status = human.wait().unwrap();
    assert!(status.success(), "meshes-testenv exited with {status}");
    assert!(
        record_of(&run_dir, human.id()).is_none(),
        "clean stop removes the record"
    );
    assert!(
        !human_record.children.iter().any(alive),
        "clean stop stops the children"
    );
    let _ = std::fs::remove_dir_all(&cache);
}

fn meshes_testenv_sigterm(pid: u32) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

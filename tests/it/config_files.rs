//! The servers started from Java-format config files (issue #21): a `broker.conf` and a
//! `namesrv.properties` with Apache RocketMQ's key names and units, as an operator brings them.

use std::process::Command;
use std::time::{Duration, Instant};

use rocketmq::client::Admin;

use crate::support::{self, free_port};

/// Waits until the nameserver lists `broker` in `cluster`, or panics at the deadline.
fn wait_for_broker(admin: &Admin, cluster: &str, broker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(info) = admin.cluster_info() {
            let in_cluster =
                info.cluster_addr_table.get(cluster).is_some_and(|b| b.contains(broker));
            if let (true, Some(data)) = (in_cluster, info.broker_addr_table.get(broker)) {
                return data.broker_addrs.get(&0).cloned().unwrap_or_default();
            }
        }
        assert!(Instant::now() < deadline, "{broker} never registered in {cluster}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn servers_start_from_java_properties_files() {
    let dir = tempfile::tempdir().unwrap();
    let ns_port = free_port();
    let ns_conf = dir.path().join("namesrv.properties");
    std::fs::write(
        &ns_conf,
        format!("listenPort={ns_port}\nbindAddress=127.0.0.1\nrocketmqHome=/opt/rocketmq\n"),
    )
    .unwrap();
    let ns_args = vec!["-c".to_string(), ns_conf.display().to_string()];
    let _ns =
        support::spawn(env!("CARGO_BIN_EXE_nameserver"), &ns_args, format!("127.0.0.1:{ns_port}"));

    let port = free_port();
    let store = dir.path().join("store");
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "# as in Apache RocketMQ's distribution/conf/broker.conf\n\
             brokerClusterName = JavaCluster\nbrokerName = broker-java\nbrokerId = 0\n\
             deleteWhen = 04\nfileReservedTime = 48\nbrokerRole = ASYNC_MASTER\n\
             flushDiskType = ASYNC_FLUSH\nnamesrvAddr=127.0.0.1:{ns_port}\n\
             listenPort={port}\nbindAddress=127.0.0.1\nbrokerIP1=127.0.0.1\n\
             storePathRootDir={}\nmappedFileSizeCommitLog=16777216\nhaListenPort={}\n",
            store.display(),
            port + 1
        ),
    )
    .unwrap();
    let args = vec!["-c".to_string(), conf.display().to_string()];
    let _broker = support::spawn(env!("CARGO_BIN_EXE_broker"), &args, format!("127.0.0.1:{port}"));

    let admin = Admin::builder().name_server(&format!("127.0.0.1:{ns_port}")).build().unwrap();
    let addr = wait_for_broker(&admin, "JavaCluster", "broker-java");
    assert_eq!(addr, format!("127.0.0.1:{port}"));
    let config = admin.broker_config(&addr).unwrap();
    assert!(store.join("commitlog").is_dir(), "storePathRootDir was not used");
    assert!(!config.is_empty());
}

#[test]
fn a_misspelled_key_refuses_to_start_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, "brokerName=a\nbrokerNmae=b\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_broker")).arg("-c").arg(&conf).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: unknown key `brokerNmae`"), "{stderr}");

    std::fs::write(&conf, "enableControllerMode=true\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_broker")).arg("-c").arg(&conf).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`enableControllerMode`"), "{stderr}");
}

#[test]
fn dash_p_and_dash_m_print_the_config_in_java_keys_and_exit() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, "brokerName=broker-p\nmappedFileSizeConsumeQueue=6000000\n").unwrap();
    let run = |switch: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_broker"))
            .env("RMQ_LOG_DIR", "-")
            .args([switch, "-c", conf.to_str().unwrap(), "-n", "192.0.2.1:9876"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{switch}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let all = run("-p");
    for line in
        ["brokerName=broker-p", "namesrvAddr=192.0.2.1:9876", "mappedFileSizeConsumeQueue=6000000"]
    {
        assert!(all.lines().any(|l| l == line), "-p lacks {line}: {all}");
    }
    assert!(all.lines().any(|l| l.starts_with("netBusyPollUs=")), "{all}");
    let important = run("-m");
    assert!(important.lines().any(|l| l == "brokerName=broker-p"), "{important}");
    assert!(!important.contains("netBusyPollUs"), "-m printed a minor setting: {important}");
}

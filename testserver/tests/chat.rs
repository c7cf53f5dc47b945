mod common;

use common::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use wsnative_testserver::{Mode, TestServer};

type Ws = WebSocketStream<TcpStream>;

async fn recv(ws: &mut Ws) -> Value {
    let text = next_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}"))
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

async fn join(server: &TestServer) -> (Ws, u64) {
    let mut ws = connect(&server.url()).await;
    let hello = recv(&mut ws).await;
    assert_eq!(hello["type"], "id", "{hello}");
    let id = hello["id"].as_u64().expect("numeric id");
    (ws, id)
}

#[tokio::test]
async fn two_clients_chat() {
    let server = TestServer::start(Mode::Chat);
    let (mut alice, alice_id) = join(&server).await;
    let (mut bob, bob_id) = join(&server).await;
    assert_eq!(bob_id, alice_id + 1);

    // Setting a name: no echo of the username message, a userlist to all.
    send(&mut alice, json!({"type": "username", "name": "alice", "id": alice_id})).await;
    let expected = json!({"type": "userlist", "users": ["alice"]});
    assert_eq!(recv(&mut alice).await, expected);
    assert_eq!(recv(&mut bob).await, expected);

    // A taken name is made unique and the sender told so.
    send(&mut bob, json!({"type": "username", "name": "alice", "id": bob_id})).await;
    let rejected = recv(&mut bob).await;
    assert_eq!(rejected["type"], "rejectusername");
    let bob_name = rejected["name"].as_str().unwrap().to_owned();
    assert_ne!(bob_name, "alice");
    assert!(bob_name.starts_with("alice"), "{bob_name}");
    let expected = json!({"type": "userlist", "users": ["alice", bob_name]});
    assert_eq!(recv(&mut bob).await, expected);
    assert_eq!(recv(&mut alice).await, expected);

    // Re-sending one's own name keeps it.
    send(&mut alice, json!({"type": "username", "name": "alice", "id": alice_id})).await;
    let expected = json!({"type": "userlist", "users": ["alice", bob_name]});
    assert_eq!(recv(&mut alice).await, expected);
    assert_eq!(recv(&mut bob).await, expected);

    // Messages get the sender's name, lose HTML tags, and reach everyone.
    let date = 1_700_000_000_000u64;
    send(
        &mut alice,
        json!({"type": "message", "text": "<b>hi</b> bob <script>x</script>", "id": alice_id, "date": date}),
    )
    .await;
    for ws in [&mut alice, &mut bob] {
        let got = recv(ws).await;
        assert_eq!(
            got,
            json!({"type": "message", "name": "alice", "text": "hi bob x", "id": alice_id, "date": date})
        );
    }

    // Other types pass through unchanged.
    let custom = json!({"type": "custom", "payload": [1, 2, 3]});
    send(&mut bob, custom.clone()).await;
    assert_eq!(recv(&mut alice).await, custom);
    assert_eq!(recv(&mut bob).await, custom);

    // Targeted messages reach only the named user.
    let offer = json!({"type": "video-offer", "target": bob_name, "name": "alice"});
    send(&mut alice, offer.clone()).await;
    assert_eq!(recv(&mut bob).await, offer);

    // Leaving updates everyone's userlist.
    bob.close(None).await.unwrap();
    until_end(&mut bob).await;
    assert_eq!(recv(&mut alice).await, json!({"type": "userlist", "users": ["alice"]}));
}

#[tokio::test]
async fn ids_count_up_and_junk_is_ignored() {
    let server = TestServer::start(Mode::Chat);
    let (mut first, a) = join(&server).await;
    first.send(Message::text("not json")).await.unwrap();
    first.send(Message::text("[1, 2]")).await.unwrap();
    first.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    // The junk produced nothing: the next thing first sees is its userlist.
    send(&mut first, json!({"type": "username", "name": "zed", "id": a})).await;
    assert_eq!(recv(&mut first).await, json!({"type": "userlist", "users": ["zed"]}));
    first.close(None).await.unwrap();
    until_end(&mut first).await;

    let (mut second, b) = join(&server).await;
    assert_eq!(b, a + 1);
    // "zed" left with first, so second may take it.
    send(&mut second, json!({"type": "username", "name": "zed", "id": b})).await;
    assert_eq!(recv(&mut second).await, json!({"type": "userlist", "users": ["zed"]}));
}

#[tokio::test]
async fn servers_do_not_share_rooms() {
    let one = TestServer::start(Mode::Chat);
    let two = TestServer::start(Mode::Chat);
    let (mut a, a_id) = join(&one).await;
    let (_b, b_id) = join(&two).await;
    assert_eq!(a_id, b_id);
    send(&mut a, json!({"type": "username", "name": "a", "id": a_id})).await;
    assert_eq!(recv(&mut a).await, json!({"type": "userlist", "users": ["a"]}));
}

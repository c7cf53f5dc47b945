//! Chat mode: the JSON protocol of MDN's "Writing WebSocket client
//! applications" guide and its `chatserver.js`.
//!
//! * On connect the server sends `{"type":"id","id":N}`, N counting up from 1.
//! * `{"type":"username","name":...}` sets the sender's name. If another
//!   connection already has it, the server appends a number to make it unique
//!   and tells the sender `{"type":"rejectusername","name":new}`. Then every
//!   client gets `{"type":"userlist","users":[...]}`; the username message
//!   itself is not broadcast.
//! * `{"type":"message","text":...}` gets `"name"` set to the sender's name,
//!   HTML tags stripped from `"text"`, and goes to every client, sender too.
//! * Any other JSON object is passed on as is. Like MDN's server, a message
//!   with a non-empty string `"target"` goes only to the user of that name.
//! * When a client leaves, every remaining client gets the new userlist.

use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

struct Client {
    id: u64,
    name: Option<String>,
    tx: UnboundedSender<Message>,
}

#[derive(Default)]
struct Room {
    last_id: u64,
    /// MDN's `appendToMakeUnique`: grows with every rename, for all clients.
    append: u64,
    clients: Vec<Client>,
}

/// The chat room shared by all connections of one server.
#[derive(Default)]
pub(crate) struct Chat {
    room: Mutex<Room>,
}

impl Room {
    fn send_to_all(&self, message: &Value) {
        let text = message.to_string();
        for client in &self.clients {
            let _ = client.tx.send(Message::text(text.clone()));
        }
    }

    fn send_to(&self, id: u64, message: &Value) {
        if let Some(client) = self.clients.iter().find(|c| c.id == id) {
            let _ = client.tx.send(Message::text(message.to_string()));
        }
    }

    fn name_of(&self, id: u64) -> Option<&str> {
        self.clients.iter().find(|c| c.id == id)?.name.as_deref()
    }

    fn name_taken(&self, name: &str, by_other_than: u64) -> bool {
        self.clients.iter().any(|c| c.id != by_other_than && c.name.as_deref() == Some(name))
    }

    fn send_user_list(&self) {
        let users: Vec<&str> = self.clients.iter().filter_map(|c| c.name.as_deref()).collect();
        self.send_to_all(&json!({"type": "userlist", "users": users}));
    }

    /// Sends to the user named by `target` if it is a non-empty string,
    /// otherwise to everyone.
    fn pass_on(&self, message: &Map<String, Value>) {
        let value = Value::Object(message.clone());
        match message.get("target").and_then(Value::as_str) {
            Some(target) if !target.is_empty() => {
                if let Some(client) = self.clients.iter().find(|c| c.name.as_deref() == Some(target)) {
                    let _ = client.tx.send(Message::text(value.to_string()));
                }
            }
            _ => self.send_to_all(&value),
        }
    }

    fn set_username(&mut self, id: u64, requested: String) {
        let mut name = requested.clone();
        let mut changed = false;
        while self.name_taken(&name, id) {
            self.append += 1;
            name = format!("{requested}{}", self.append);
            changed = true;
        }
        if changed {
            self.send_to(id, &json!({"type": "rejectusername", "name": name}));
        }
        if let Some(client) = self.clients.iter_mut().find(|c| c.id == id) {
            client.name = Some(name);
        }
        self.send_user_list();
    }
}

impl Chat {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn room(&self) -> MutexGuard<'_, Room> {
        self.room.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a connection and queues its `id` message; returns the id.
    fn join(&self, tx: UnboundedSender<Message>) -> u64 {
        let mut room = self.room();
        room.last_id += 1;
        let id = room.last_id;
        let _ = tx.send(Message::text(json!({"type": "id", "id": id}).to_string()));
        room.clients.push(Client { id, name: None, tx });
        id
    }

    fn leave(&self, id: u64) {
        let mut room = self.room();
        room.clients.retain(|c| c.id != id);
        room.send_user_list();
    }

    /// Handles one text message from connection `id`.
    fn receive(&self, id: u64, text: &str) {
        let Ok(Value::Object(mut message)) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let mut room = self.room();
        match message.get("type").and_then(Value::as_str) {
            Some("username") => {
                let requested = match message.get("name") {
                    Some(Value::String(name)) => name.clone(),
                    Some(Value::Null) | None => return,
                    Some(other) => other.to_string(),
                };
                room.set_username(id, requested);
            }
            Some("message") => {
                let name = room.name_of(id).map_or(Value::Null, Value::from);
                message.insert("name".into(), name);
                if let Some(text) = message.get("text").and_then(Value::as_str) {
                    let stripped = strip_tags(text);
                    message.insert("text".into(), Value::from(stripped));
                }
                room.pass_on(&message);
            }
            _ => room.pass_on(&message),
        }
    }
}

/// Removes HTML tags the way MDN's server does with `/(<([^>]+)>)/ig`:
/// a `<`, at least one character other than `>`, then `>`.
pub fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('>') {
            Some(end) if end > 0 => rest = &after[end + 1..],
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Serves one chat-mode connection in `chat`'s room.
pub(crate) async fn run<S>(ws: WebSocketStream<S>, chat: &Arc<Chat>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = unbounded_channel();
    let id = chat.join(tx);

    let writer = async move {
        while let Some(message) = rx.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    };
    let reader = async {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(text) = message {
                chat.receive(id, text.as_str());
            }
        }
        // Dropping our sender (held by the room) also ends the writer.
        chat.leave(id);
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::strip_tags;

    #[test]
    fn strips_like_mdn() {
        assert_eq!(strip_tags("hi <b>there</b>"), "hi there");
        assert_eq!(strip_tags("a <> b"), "a <> b");
        assert_eq!(strip_tags("1 < 2"), "1 < 2");
        assert_eq!(strip_tags("<<a>x"), "x");
        assert_eq!(strip_tags("x <img src=y\nonerror=z>y"), "x y");
    }
}

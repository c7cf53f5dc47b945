// chat: the JSON chat client of MDN's "Writing WebSocket client
// applications", in C++, for the bundled chat server
// (wsnative-testserver --mode chat); the twin of examples-c/chat.c. JSON
// with nlohmann/json (Debian: nlohmann-json3-dev, header-only).
//
//   chat_cpp URL USERNAME               interactive: each stdin line is a
//                                       chat message; EOF closes and exits
//   chat_cpp URL USERNAME --once TEXT   sends TEXT once the username is
//                                       registered, waits for its own
//                                       message to come back, closes; exit
//                                       0, or 1 on error or after 10 s
//
// The socket uses Dispatch::Queued: the main loop, like a game or UI loop,
// calls poll() and then poll(2) on stdin with a 50 ms timeout, so every
// handler runs on the main thread and the program needs no locks.
#include <wsnative.hpp>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <poll.h>
#include <string>
#include <unistd.h>

using json = nlohmann::json;

namespace {

double now_ms() {
    using namespace std::chrono;
    return static_cast<double>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

// HH:MM:SS (local time) of a JavaScript date (milliseconds since 1970).
std::string time_str(double ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000.0);
    std::tm tm{};
    char out[16];
    if (ms <= 0 || !localtime_r(&t, &tm) || std::strftime(out, sizeof out, "%H:%M:%S", &tm) == 0)
        return "--:--:--";
    return out;
}

// Untrusted text for a terminal: control characters (escape sequences!)
// become '?'; newlines and tabs are kept.
std::string safe(const std::string &s) {
    std::string o;
    for (unsigned char c : s) o += (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : static_cast<char>(c);
    return o;
}

// The server removes HTML tags like MDN's /(<([^>]+)>)/ig.
std::string strip_tags(const std::string &s) {
    std::string o;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t close = s[i] == '<' ? s.find('>', i + 1) : std::string::npos;
        if (close != std::string::npos && close > i + 1) {
            i = close + 1;
        } else {
            o += s[i++];
        }
    }
    return o;
}

std::string str(const json &o, const char *key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

struct Chat {
    std::string username;  // as given
    std::string my_name;   // as the server knows it
    double client_id = 0;
    bool have_id = false, sent_username = false, registered = false;
    std::string once_text, once_expect;
    bool once = false, once_sent = false, once_seen = false;
    bool closed = false, clean = false, failed = false;

    void send_json(wsnative::WebSocketRef ws, json msg) {
        msg["id"] = client_id;
        msg["date"] = now_ms();
        try {  // invalid UTF-8 typed by the user becomes U+FFFD
            ws.send(msg.dump(-1, ' ', false, json::error_handler_t::replace));
        } catch (const wsnative::Error &e) {
            std::fprintf(stderr, "chat: send failed: %s\n", e.what());
        }
    }

    void handle(wsnative::WebSocketRef ws, const json &o) {
        std::string type = str(o, "type");
        auto date = o.find("date");
        std::string when = time_str(date != o.end() && date->is_number() ? date->get<double>() : now_ms());
        if (type == "id") {
            auto id = o.find("id");
            if (id == o.end() || !id->is_number()) return;
            client_id = id->get<double>();
            have_id = true;
            if (!sent_username) {
                send_json(ws, {{"type", "username"}, {"name", username}});
                sent_username = true;
            }
        } else if (type == "username") {
            std::printf("User %s signed in at %s\n", safe(str(o, "name")).c_str(), when.c_str());
        } else if (type == "rejectusername") {
            my_name = str(o, "name");
            std::printf("your username has been set to %s because the name you chose is in use\n",
                        safe(my_name).c_str());
        } else if (type == "userlist") {
            auto users = o.find("users");
            if (users == o.end() || !users->is_array()) return;
            std::string line = "Users:";
            for (std::size_t i = 0; i < users->size(); i++) {
                if (!(*users)[i].is_string()) continue;
                std::string u = (*users)[i].get<std::string>();
                line += (i ? ", " : " ") + safe(u);
                if (sent_username && u == my_name) registered = true;
            }
            std::printf("%s\n", line.c_str());
        } else if (type == "message") {
            std::string name = str(o, "name"), text = str(o, "text");
            std::printf("(%s) %s: %s\n", when.c_str(), safe(name.empty() ? "(no name)" : name).c_str(),
                        safe(text).c_str());
            if (once_sent && name == my_name && (text == once_expect || text == once_text)) once_seen = true;
        }
        // Other types (MDN's video-call signalling, ...) are not for this client.
    }
};

}  // namespace

int main(int argc, char **argv) {
    bool once = argc == 5 && std::string(argv[3]) == "--once";
    if (!(argc == 3 || once) || !*argv[2]) {
        std::fprintf(stderr, "usage: %s URL USERNAME [--once TEXT]\n", argv[0]);
        return 2;
    }
    Chat app;
    app.username = app.my_name = argv[2];
    app.once = once;
    if (once) {
        app.once_text = argv[4];
        app.once_expect = strip_tags(app.once_text);
    }

    wsnative::Handlers h;
    h.on_open = [](wsnative::WebSocketRef ws) { std::fprintf(stderr, "connected to %s\n", ws.url().c_str()); };
    h.on_message = [&app](wsnative::WebSocketRef ws, const wsnative::MessageEvent &ev) {
        if (!ev.is_text()) return;
        json o = json::parse(ev.text, nullptr, false);
        if (!o.is_object()) {
            std::fprintf(stderr, "chat: ignoring a message that is not a JSON object (%zu bytes)\n", ev.text.size());
            return;
        }
        app.handle(ws, o);
        std::fflush(stdout);
    };
    h.on_error = [&app](wsnative::WebSocketRef, const wsnative::ErrorEvent &ev) {
        app.failed = true;
        std::fprintf(stderr, "chat: connection error: %.*s\n", (int)ev.message.size(), ev.message.data());
    };
    h.on_close = [&app](wsnative::WebSocketRef, const wsnative::CloseEvent &ev) {
        app.closed = true;
        app.clean = ev.was_clean;
        std::fprintf(stderr, "connection closed (code %u%s%.*s%s)\n", ev.code, ev.reason.empty() ? "" : ", \"",
                     (int)ev.reason.size(), ev.reason.data(), ev.reason.empty() ? "" : "\"");
    };

    int status = 0;
    try {
        wsnative::Options opts;
        opts.dispatch(wsnative::Dispatch::Queued);
        wsnative::WebSocket ws(argv[1], std::move(h), opts);

        std::string in;                // typed, not yet sent
        bool stdin_open = !once;       // --once does not read stdin
        bool eof = false;              // stdin ended: close once the input is sent
        bool closing = false;
        double start = now_ms(), eof_at = 0, close_deadline = 0;
        auto start_closing = [&] {
            ws.close(1000);  // after the queued messages
            closing = true;
            close_deadline = now_ms() + 5000;
        };
        // Sends every complete line of `in` (and, at EOF, the rest).
        auto send_lines = [&] {
            std::size_t start_at = 0, nl;
            while ((nl = in.find('\n', start_at)) != std::string::npos) {
                std::size_t end = nl > start_at && in[nl - 1] == '\r' ? nl - 1 : nl;
                app.send_json(ws, {{"type", "message"}, {"text", in.substr(start_at, end - start_at)}});
                start_at = nl + 1;
            }
            if (eof && start_at < in.size()) {
                app.send_json(ws, {{"type", "message"}, {"text", in.substr(start_at)}});
                start_at = in.size();
            }
            in.erase(0, start_at);
        };
        while (!app.closed) {
            ws.poll();
            if (app.closed) break;
            bool ready_to_send = app.have_id && ws.ready_state() == wsnative::ReadyState::Open;
            if (once && !closing) {
                if (app.registered && !app.once_sent) {
                    app.send_json(ws, {{"type", "message"}, {"text", app.once_text}});
                    app.once_sent = true;
                }
                if (app.once_seen || now_ms() - start > 10000) {
                    if (!app.once_seen) {
                        std::fprintf(stderr, "chat: timed out after 10 s (%s)\n",
                                     !app.have_id       ? "no id from the server"
                                     : !app.registered  ? "username not registered"
                                                        : "no echo of our message");
                        status = 1;
                    }
                    start_closing();
                }
            }
            // Lines typed before the id arrived go out once it has.
            if (!in.empty() && ready_to_send) send_lines();
            if (eof && !closing && (ready_to_send || now_ms() - eof_at > 10000)) start_closing();
            if (closing && now_ms() > close_deadline) {
                std::fprintf(stderr, "chat: the closing handshake did not finish\n");
                status = 1;
                break;
            }
            pollfd p{STDIN_FILENO, POLLIN, 0};
            int ready = ::poll(&p, stdin_open ? 1 : 0, 50);
            if (ready < 0 && errno != EINTR) {
                std::perror("chat: poll");
                status = 1;
                break;
            }
            if (ready > 0 && stdin_open) {
                char chunk[4096];
                ssize_t got = read(STDIN_FILENO, chunk, sizeof chunk);
                if (got > 0) {
                    in.append(chunk, static_cast<std::size_t>(got));
                } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                    stdin_open = false;
                    eof = true;
                    eof_at = now_ms();
                }
            }
        }
    } catch (const wsnative::Error &e) {
        std::fprintf(stderr, "chat: %s\n", e.what());
        return 1;
    }
    if (app.failed || (app.closed && !app.clean && !status)) status = 1;
    if (once && !app.once_seen) status = 1;
    wsnative::shutdown(std::chrono::milliseconds(1000));
    return status;
}

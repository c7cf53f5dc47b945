// recorder.hpp: records the events of one wsnative::WebSocket for the C++
// tests, on top of the C tests' harness (tests-c/harness.h: CHECK macros,
// RUN, the watchdog, the echo server's URL, raw TCP servers).
#ifndef WSNATIVE_TESTS_CPP_RECORDER_HPP
#define WSNATIVE_TESTS_CPP_RECORDER_HPP

#include <wsnative.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "harness.h"
}

enum class Kind { Open, Message, Error, Close };

struct Event {
    explicit Event(Kind k) : kind(k) {}
    Kind kind;
    wsnative::MessageType type = wsnative::MessageType::Text;
    std::string data;  // message bytes, error message or close reason
    std::uint16_t code = 0;
    bool clean = false;
    wsnative::ReadyState state = wsnative::ReadyState::Connecting;
    wsnative::ErrorCode cause = WS_ERROR_CODE_NONE;
    std::uint16_t http_status = 0;
    std::optional<std::string> retry_after;  // ErrorEvent::http_header("retry-after")
    std::thread::id thread;
};

// Shared by the test and the handlers it makes (which hold a shared_ptr:
// use_count() shows whether the library still holds the handlers).
struct Recorder {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Event> events;
    int running = 0;  // handlers running now
    int overlaps = 0;
    // Called inside each handler, after the event is recorded, outside the lock.
    std::function<void(wsnative::WebSocketRef, const Event &)> hook;

    static std::shared_ptr<Recorder> make() { return std::make_shared<Recorder>(); }

    // Handlers that record into `r`.
    static wsnative::Handlers handlers(const std::shared_ptr<Recorder> &r) {
        wsnative::Handlers h;
        h.on_open = [r](wsnative::WebSocketRef ws) {
            Event e(Kind::Open);
            r->record(ws, e);
        };
        h.on_message = [r](wsnative::WebSocketRef ws, const wsnative::MessageEvent &ev) {
            Event e(Kind::Message);
            e.type = ev.type;
            e.data.assign(ev.text.data(), ev.text.size());
            bool same = ev.data.size() == ev.text.size() &&
                        (ev.data.empty() ||
                         static_cast<const void *>(ev.data.data()) == static_cast<const void *>(ev.text.data()));
            CHECK_MSG(same, "text and data view the same bytes");
            CHECK(ev.is_text() == (ev.type == wsnative::MessageType::Text));
            CHECK(ev.is_binary() == (ev.type == wsnative::MessageType::Binary));
            r->record(ws, e);
        };
        h.on_error = [r](wsnative::WebSocketRef ws, const wsnative::ErrorEvent &ev) {
            Event e(Kind::Error);
            e.data.assign(ev.message.data(), ev.message.size());
            e.cause = ev.code;
            e.http_status = ev.http_status;
            e.retry_after = ev.http_header("retry-after");
            r->record(ws, e);
        };
        h.on_close = [r](wsnative::WebSocketRef ws, const wsnative::CloseEvent &ev) {
            Event e(Kind::Close);
            e.code = ev.code;
            e.clean = ev.was_clean;
            e.data.assign(ev.reason.data(), ev.reason.size());
            r->record(ws, e);
        };
        return h;
    }

    void record(wsnative::WebSocketRef ws, Event &e) {
        e.state = ws.ready_state();
        e.thread = std::this_thread::get_id();
        {
            std::lock_guard<std::mutex> lock(mu);
            if (running++ > 0) overlaps++;
            events.push_back(e);
        }
        cv.notify_all();
        if (hook) hook(ws, e);
        std::lock_guard<std::mutex> lock(mu);
        running--;
        cv.notify_all();
    }

    int count(Kind k) {
        std::lock_guard<std::mutex> lock(mu);
        int n = 0;
        for (const Event &e : events) n += e.kind == k;
        return n;
    }
    // The i-th event of kind k (a copy), if there is one.
    std::optional<Event> nth(Kind k, int i = 0) {
        std::lock_guard<std::mutex> lock(mu);
        for (const Event &e : events)
            if (e.kind == k && i-- == 0) return e;
        return std::nullopt;
    }
    std::vector<Event> all() {
        std::lock_guard<std::mutex> lock(mu);
        return events;
    }
    // Immediate dispatch: waits until `n` events of kind `k` were recorded
    // and no handler runs.
    bool wait(Kind k, int n, int timeout_ms) {
        std::unique_lock<std::mutex> lock(mu);
        return cv.wait_for(lock, std::chrono::milliseconds(h_ms(timeout_ms)), [&] {
            int c = 0;
            for (const Event &e : events) c += e.kind == k;
            return c >= n && running == 0;
        });
    }
    // Queued dispatch: polls `ws` until `n` events of kind `k`.
    bool poll_until(wsnative::WebSocketRef ws, Kind k, int n, int timeout_ms) {
        double deadline = h_now_ms() + h_ms(timeout_ms);
        while (count(k) < n) {
            if (h_now_ms() > deadline) return false;
            ws.poll(std::chrono::milliseconds(10));
        }
        return true;
    }
    // What every socket's events must show: open first, messages only after
    // it, at most one error, close last and once (1006 and unclean after an
    // error, readyState CLOSED), one handler at a time.
    void check_order(const char *file, int line) {
        auto ev = all();
        bool open = false, error = false, closed = false;
        const char *problem = nullptr;
        for (std::size_t i = 0; i < ev.size() && !problem; i++) {
            const Event &e = ev[i];
            if (closed) problem = "an event after on_close";
            else if (e.kind == Kind::Open) open = i == 0, problem = i == 0 ? nullptr : "on_open not first";
            else if (e.kind == Kind::Message && (!open || error)) problem = "on_message outside OPEN";
            else if (e.kind == Kind::Error) problem = error ? "on_error twice" : nullptr, error = true;
            else if (e.kind == Kind::Close) {
                closed = true;
                if (error && (e.code != 1006 || e.clean)) problem = "on_close after on_error is not 1006 unclean";
                if (e.state != wsnative::ReadyState::Closed) problem = "readyState is not CLOSED in on_close";
            }
        }
        if (problem) h_fail(file, line, "event order", "%s", problem);
        std::lock_guard<std::mutex> lock(mu);
        if (overlaps) h_fail(file, line, "handlers one at a time", "%d overlaps", overlaps);
    }
};

#define CHECK_ORDER(r) (r)->check_order(__FILE__, __LINE__)

// CHECK_THROWS(Type, statement): the statement throws Type (and Type is a
// wsnative::Error whose code() matches its class).
#define CHECK_THROWS(Type, ...)                                                                     \
    do {                                                                                            \
        bool h_thrown_ = false;                                                                     \
        try {                                                                                       \
            __VA_ARGS__;                                                                            \
        } catch (const Type &h_e_) {                                                                \
            h_thrown_ = true;                                                                       \
            const wsnative::Error &h_base_ = h_e_;                                                  \
            CHECK_MSG(std::strstr(h_base_.what(), h_base_.name()) == h_base_.what(),                \
                      "what() starts with the name: %s", h_base_.what());                           \
        } catch (const std::exception &h_e_) {                                                      \
            h_fail(__FILE__, __LINE__, #__VA_ARGS__, "threw another exception: %s", h_e_.what());   \
            h_thrown_ = true;                                                                       \
        }                                                                                           \
        if (!h_thrown_) h_fail(__FILE__, __LINE__, #__VA_ARGS__, "did not throw " #Type);           \
    } while (0)

#define CHECK_NOTHROW(...)                                                                          \
    do {                                                                                            \
        try {                                                                                       \
            __VA_ARGS__;                                                                            \
        } catch (const std::exception &h_e_) {                                                      \
            h_fail(__FILE__, __LINE__, #__VA_ARGS__, "threw: %s", h_e_.what());                     \
        }                                                                                           \
    } while (0)

inline wsnative::Options queued() {
    wsnative::Options o;
    o.dispatch(wsnative::Dispatch::Queued);
    return o;
}

#endif

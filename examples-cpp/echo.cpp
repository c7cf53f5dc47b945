// echo: connect, send a text and a binary message, print every event, then
// close; the C++ twin of examples-c/echo.c. Handlers run on a library
// thread (Dispatch::Immediate); the main thread waits for on_close.
//
//   echo_cpp ws://127.0.0.1:PORT/ [subprotocol...]
#include <wsnative.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s URL [subprotocol...]\n", argv[0]);
        return 2;
    }
    std::mutex mu;
    std::condition_variable cv;
    int echoes = 0;
    bool done = false, clean = false;

    wsnative::Handlers h;
    h.on_open = [](wsnative::WebSocketRef ws) {
        std::printf("open: url=%s protocol='%s' extensions='%s'\n", ws.url().c_str(), ws.protocol().c_str(),
                    ws.extensions().c_str());
        const std::uint8_t bin[] = {0x00, 0x01, 0x02, 0xfe, 0xff};
        try {
            ws.send("Hello from wsnative, héllo wörld");
            ws.send(bin);
        } catch (const wsnative::Error &e) {
            std::printf("send failed: %s\n", e.what());
        }
        std::printf("sent 2 messages, bufferedAmount=%llu\n", (unsigned long long)ws.buffered_amount());
        std::fflush(stdout);
    };
    h.on_message = [&](wsnative::WebSocketRef ws, const wsnative::MessageEvent &ev) {
        if (ev.is_text()) {
            std::printf("message (text, %zu bytes): %.*s\n", ev.text.size(), (int)ev.text.size(), ev.text.data());
        } else {
            std::printf("message (binary, %zu bytes):", ev.data.size());
            for (std::uint8_t b : ev.data) std::printf(" %02x", b);
            std::printf("\n");
        }
        std::fflush(stdout);
        int n;
        {
            std::lock_guard<std::mutex> lock(mu);
            n = ++echoes;
        }
        if (n == 2) {
            try {
                ws.close(1000, "done");
            } catch (const wsnative::Error &e) {
                std::printf("close failed: %s\n", e.what());
            }
        }
    };
    h.on_error = [](wsnative::WebSocketRef, const wsnative::ErrorEvent &ev) {
        std::printf("error: %.*s (%s)\n", (int)ev.message.size(), ev.message.data(), ev.code_name());
        std::fflush(stdout);
    };
    h.on_close = [&](wsnative::WebSocketRef ws, const wsnative::CloseEvent &ev) {
        std::printf("close: code=%u reason='%.*s' wasClean=%s readyState=%d\n", ev.code, (int)ev.reason.size(),
                    ev.reason.data(), ev.was_clean ? "true" : "false", (int)ws.ready_state());
        std::fflush(stdout);
        std::lock_guard<std::mutex> lock(mu);
        done = true;
        clean = ev.was_clean;
        cv.notify_all();
    };

    std::printf("wsnative %s (C++)\n", wsnative::version());
    try {
        wsnative::WebSocket ws(argv[1], std::vector<std::string>(argv + 2, argv + argc), std::move(h));
        std::unique_lock<std::mutex> lock(mu);
        if (!cv.wait_for(lock, std::chrono::seconds(15), [&] { return done; }))
            std::fprintf(stderr, "timed out waiting for close\n");
    } catch (const wsnative::Error &e) {  // SyntaxError for a bad URL or subprotocol
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    // The WebSocket is gone: no handler runs any more.
    wsnative::shutdown(std::chrono::milliseconds(2000));
    std::lock_guard<std::mutex> lock(mu);
    return done && clean ? 0 : 1;
}

// Chat: the JSON chat client of MDN's "Writing WebSocket client
// applications", in C# on WsNative.cs, for the bundled chat server
// (wsnative-testserver --mode chat). The same program as examples-c/chat.c.
//
//   mono Chat.exe URL USERNAME                interactive: each stdin line is
//                                             a chat message; EOF closes
//   mono Chat.exe URL USERNAME --once TEXT    sends TEXT once the username is
//                                             registered, waits for its own
//                                             message to come back, closes;
//                                             exit 0, or 1 on error or
//                                             after 10 s
//
// Build: mcs -out:Chat.exe bindings/csharp/WsNative.cs examples-csharp/Chat.cs
// (libwsnative.so on the loader's path, e.g. LD_LIBRARY_PATH=target/release).
//
// The socket uses queued dispatch (the default): the main loop, like a
// game's Update(), calls DispatchMessageQueue() every 20 ms, so every
// handler runs on the main thread. A second thread only reads stdin.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using WsNative;

static class Chat
{
    static int Main(string[] args)
    {
        string once = args.Length == 4 && args[2] == "--once" ? args[3] : null;
        if (!(args.Length == 2 || once != null) || args[1].Length == 0)
        {
            Console.Error.WriteLine("usage: Chat.exe URL USERNAME [--once TEXT]");
            return 2;
        }
        string url = args[0], username = args[1], myName = username;
        // The server removes HTML tags as MDN's /(<([^>]+)>)/ig does.
        string onceExpect = once == null ? null : Regex.Replace(once, "<[^>]+>", "");
        double clientId = 0;
        bool haveId = false, sentUsername = false, registered = false, onceSent = false, onceSeen = false;
        bool closed = false, clean = false, failed = false;

        var ws = new WebSocket(url);
        ws.OnOpen += () => Console.Error.WriteLine("connected to " + ws.Url);
        ws.OnError += message =>
        {
            failed = true;
            Console.Error.WriteLine("chat: connection error: " + message);
        };
        ws.OnCloseEx += e =>
        {
            closed = true;
            clean = e.WasClean;
            Console.Error.WriteLine("connection closed (code " + e.Code + (e.Reason.Length > 0 ? ", \"" + e.Reason + "\"" : "") + ")");
        };
        ws.OnTextMessage += text =>
        {
            var o = Json.Parse(text) as Dictionary<string, object>;
            if (o == null)
            {
                Console.Error.WriteLine("chat: ignoring a message that is not a JSON object (" + text.Length + " characters)");
                return;
            }
            string type = o.ContainsKey("type") ? o["type"] as string : null;
            string when = Time(o.ContainsKey("date") ? o["date"] : null);
            switch (type)
            {
                case "id":
                    if (!(o.ContainsKey("id") && o["id"] is double)) return;
                    clientId = (double)o["id"];
                    haveId = true;
                    if (!sentUsername)
                    {
                        Send(ws, Json.Object("type", "username", "name", username, "id", clientId, "date", Now()));
                        sentUsername = true;
                    }
                    break;
                case "username":
                    Console.WriteLine("User " + Safe(o.ContainsKey("name") ? o["name"] as string : "?") + " signed in at " + when);
                    break;
                case "rejectusername":
                    if (!(o.ContainsKey("name") && o["name"] is string)) return;
                    myName = (string)o["name"];
                    Console.WriteLine("your username has been set to " + Safe(myName) + " because the name you chose is in use");
                    break;
                case "userlist":
                    var users = o.ContainsKey("users") ? o["users"] as List<object> : null;
                    if (users == null) return;
                    var names = new List<string>();
                    foreach (object u in users)
                    {
                        var name = u as string;
                        if (name == null) continue;
                        names.Add(Safe(name));
                        if (sentUsername && name == myName) registered = true;
                    }
                    Console.WriteLine("Users: " + string.Join(", ", names));
                    break;
                case "message":
                    string from = o.ContainsKey("name") ? o["name"] as string : null;
                    string body = o.ContainsKey("text") ? o["text"] as string : null;
                    Console.WriteLine("(" + when + ") " + Safe(from ?? "(no name)") + ": " + Safe(body ?? ""));
                    if (onceSent && from == myName && (body == onceExpect || body == once)) onceSeen = true;
                    break;
                // Other types (MDN's video-call signalling, ...) are not for this client.
            }
        };

        try
        {
            ws.Connect();
        }
        catch (WsNativeException e)
        {
            Console.Error.WriteLine("chat: " + e.Message);
            return 1;
        }

        // Lines typed on stdin (interactive mode), read by a background thread.
        var lines = new Queue<string>();
        bool eof = false;
        if (once == null)
        {
            var reader = new Thread(() =>
            {
                string line;
                while ((line = Console.In.ReadLine()) != null)
                    lock (lines) lines.Enqueue(line);
                lock (lines) eof = true;
            });
            reader.IsBackground = true;
            reader.Start();
        }

        var clock = Stopwatch.StartNew();
        long closeDeadline = -1, eofAt = -1;
        int status = 0;
        while (!closed)
        {
            ws.DispatchMessageQueue();
            if (closed) break;
            bool readyToSend = haveId && ws.State == WebSocketState.Open;
            if (once != null && closeDeadline < 0)
            {
                if (registered && !onceSent)
                {
                    Send(ws, Json.Object("type", "message", "text", once, "id", clientId, "date", Now()));
                    onceSent = true;
                }
                if (onceSeen || clock.ElapsedMilliseconds > 10000)
                {
                    if (!onceSeen)
                    {
                        Console.Error.WriteLine("chat: timed out after 10 s (" + (!haveId ? "no id from the server" :
                                                !registered ? "username not registered" : "no echo of our message") + ")");
                        status = 1;
                    }
                    ws.Close();
                    closeDeadline = clock.ElapsedMilliseconds + 5000;
                }
            }
            bool inputEnded;
            lock (lines)
            {
                // Lines typed before the id arrived go out once it has.
                while (readyToSend && lines.Count > 0)
                    Send(ws, Json.Object("type", "message", "text", lines.Dequeue(), "id", clientId, "date", Now()));
                inputEnded = eof && lines.Count == 0;
            }
            if (inputEnded && eofAt < 0) eofAt = clock.ElapsedMilliseconds;
            if (inputEnded && closeDeadline < 0 && (readyToSend || clock.ElapsedMilliseconds - eofAt > 10000))
            {
                ws.Close(); // after the queued messages
                closeDeadline = clock.ElapsedMilliseconds + 5000;
            }
            if (closeDeadline >= 0 && clock.ElapsedMilliseconds > closeDeadline)
            {
                Console.Error.WriteLine("chat: the closing handshake did not finish");
                status = 1;
                break;
            }
            Thread.Sleep(20);
        }
        if (failed || (closed && !clean && status == 0)) status = 1;
        if (once != null && !onceSeen) status = 1;
        ws.Dispose();
        return status;
    }

    static void Send(WebSocket ws, string json)
    {
        try
        {
            ws.SendText(json);
        }
        catch (WsNativeException e)
        {
            Console.Error.WriteLine("chat: send failed: " + e.Message);
        }
    }

    static double Now() { return Math.Floor((DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalMilliseconds); }

    // HH:MM:SS (local time) of a JavaScript date (milliseconds since 1970).
    static string Time(object ms)
    {
        double v = ms is double ? (double)ms : Now();
        if (v <= 0 || v > 253402300799000) return "--:--:--";
        return new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMilliseconds(v).ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture);
    }

    // Untrusted text for a terminal: control characters (escape sequences!)
    // become '?'; newlines and tabs are kept.
    static string Safe(string s)
    {
        var b = new StringBuilder(s.Length);
        foreach (char c in s) b.Append((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : c);
        return b.ToString();
    }
}

// The JSON the chat needs: a reader of values (objects as Dictionary, arrays
// as List, numbers as double) and a writer of flat objects.
static class Json
{
    public static object Parse(string s)
    {
        int i = 0;
        try
        {
            object v = Value(s, ref i, 0);
            Ws(s, ref i);
            return i == s.Length ? v : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static string Object(params object[] kv)
    {
        var b = new StringBuilder("{");
        for (int k = 0; k < kv.Length; k += 2)
        {
            if (k > 0) b.Append(',');
            Str(b, (string)kv[k]);
            b.Append(':');
            if (kv[k + 1] is string) Str(b, (string)kv[k + 1]);
            else b.Append(((double)kv[k + 1]).ToString("R", CultureInfo.InvariantCulture));
        }
        return b.Append('}').ToString();
    }

    static void Str(StringBuilder b, string s)
    {
        b.Append('"');
        foreach (char c in s)
        {
            if (c == '"' || c == '\\') b.Append('\\').Append(c);
            else if (c < 0x20 || c == 0x7f) b.Append("\\u").Append(((int)c).ToString("x4"));
            else b.Append(c);
        }
        b.Append('"');
    }

    static void Ws(string s, ref int i)
    {
        while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    }

    static object Value(string s, ref int i, int depth)
    {
        if (depth > 32) throw new FormatException("too deep");
        Ws(s, ref i);
        if (i >= s.Length) throw new FormatException("end");
        char c = s[i];
        if (c == '"') return String(s, ref i);
        if (c == '{')
        {
            var o = new Dictionary<string, object>();
            i++;
            Ws(s, ref i);
            if (i < s.Length && s[i] == '}') { i++; return o; }
            while (true)
            {
                Ws(s, ref i);
                if (i >= s.Length || s[i] != '"') throw new FormatException("key");
                string key = String(s, ref i);
                Ws(s, ref i);
                if (i >= s.Length || s[i++] != ':') throw new FormatException(":");
                o[key] = Value(s, ref i, depth + 1); // the last duplicate wins, as in JSON.parse
                Ws(s, ref i);
                if (i < s.Length && s[i] == ',') { i++; continue; }
                if (i < s.Length && s[i] == '}') { i++; return o; }
                throw new FormatException("object");
            }
        }
        if (c == '[')
        {
            var a = new List<object>();
            i++;
            Ws(s, ref i);
            if (i < s.Length && s[i] == ']') { i++; return a; }
            while (true)
            {
                a.Add(Value(s, ref i, depth + 1));
                Ws(s, ref i);
                if (i < s.Length && s[i] == ',') { i++; continue; }
                if (i < s.Length && s[i] == ']') { i++; return a; }
                throw new FormatException("array");
            }
        }
        foreach (var lit in new[] { "true", "false", "null" })
            if (string.CompareOrdinal(s, i, lit, 0, lit.Length) == 0)
            {
                i += lit.Length;
                return lit == "null" ? null : (object)(lit == "true");
            }
        var m = Regex.Match(s.Substring(i), @"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?");
        if (!m.Success) throw new FormatException("value");
        i += m.Length;
        return double.Parse(m.Value, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    static string String(string s, ref int i)
    {
        var b = new StringBuilder();
        i++; // the opening quote
        while (i < s.Length)
        {
            char c = s[i++];
            if (c == '"') return b.ToString();
            if (c < 0x20) throw new FormatException("control character");
            if (c != '\\') { b.Append(c); continue; }
            if (i >= s.Length) break;
            char e = s[i++];
            switch (e)
            {
                case '"': case '\\': case '/': b.Append(e); break;
                case 'b': b.Append('\b'); break;
                case 'f': b.Append('\f'); break;
                case 'n': b.Append('\n'); break;
                case 'r': b.Append('\r'); break;
                case 't': b.Append('\t'); break;
                case 'u':
                    if (i + 4 > s.Length) throw new FormatException("\\u");
                    b.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 4;
                    break;
                default: throw new FormatException("escape");
            }
        }
        throw new FormatException("string");
    }
}

// The few engine types the README's Unity and Godot examples use, so that
// run-tests.sh can compile those examples with WsNative.cs (Unity and Godot
// are not installed here). Also Unity's AOT.MonoPInvokeCallbackAttribute,
// so that WsNative.cs builds as Unity builds it (UNITY_5_3_OR_NEWER).
namespace UnityEngine
{
    public class MonoBehaviour { }
    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogError(object message) { }
    }
}

namespace AOT
{
    [System.AttributeUsage(System.AttributeTargets.Method)]
    public class MonoPInvokeCallbackAttribute : System.Attribute
    {
        public MonoPInvokeCallbackAttribute(System.Type type) { }
    }
}

namespace Godot
{
    public partial class Node
    {
        public virtual void _Ready() { }
        public virtual void _Process(double delta) { }
        public virtual void _ExitTree() { }
    }
    public static class GD
    {
        public static void Print(params object[] what) { }
        public static void PushError(string message) { }
    }
    public static class OS
    {
        public static string GetEnvironment(string name) { return ""; }
    }
}

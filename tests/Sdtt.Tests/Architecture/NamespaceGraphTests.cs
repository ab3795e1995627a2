using System.Reflection;
using System.Reflection.Emit;

namespace Sdtt.Tests.Architecture;

/// <summary>The library's namespaces (Data, Models, Diffusion, Training, ...) form an acyclic graph: each layer can be
/// read, tested and replaced knowing only the layers below it. The graph is read from the compiled library by
/// reflection, from signatures and from every method body's IL, so a dependency hidden in a method body counts too.</summary>
public class NamespaceGraphTests
{
    [Fact]
    public void LibraryNamespacesHaveNoCycle()
    {
        var graph = NamespaceGraph.Of(typeof(SdttException).Assembly, "Sdtt");
        // The graph is not trivially empty: the known layering is seen.
        Assert.Contains("Models", graph["Training"]);
        Assert.Contains("Models", graph["Diffusion"]);
        Assert.Contains("Models", graph["IO"]);
        var cycle = NamespaceGraph.FindCycle(graph);
        Assert.True(cycle is null, $"namespace cycle: {string.Join(" -> ", cycle ?? new List<string>())}");
    }

    [Fact]
    public void CycleFinderFindsACycleAndOnlyACycle()
    {
        var acyclic = new Dictionary<string, HashSet<string>> { ["A"] = new() { "B", "C" }, ["B"] = new() { "C" }, ["C"] = new() };
        Assert.Null(NamespaceGraph.FindCycle(acyclic));
        var cyclic = new Dictionary<string, HashSet<string>> { ["A"] = new() { "B" }, ["B"] = new() { "C" }, ["C"] = new() { "A" } };
        Assert.Equal(new[] { "A", "B", "C", "A" }, NamespaceGraph.FindCycle(cyclic));
    }

    [Fact]
    public void GraphSeesADependencyThatOnlyAMethodBodyHas()
    {
        // This test class's namespace uses System.Reflection.Emit only inside a method body (OpCodes), never in a signature.
        var graph = NamespaceGraph.Of(typeof(NamespaceGraphTests).Assembly, "Sdtt.Tests");
        Assert.Contains("Architecture", graph.Keys);
        var g = NamespaceGraph.Of(typeof(BodyOnly).Assembly, "Sdtt.Tests.Architecture");
        Assert.Contains("Hidden", g[""]);
    }
}

/// <summary>Uses <see cref="Hidden.Target"/> only inside a method body.</summary>
internal static class BodyOnly
{
    public static int Call() => Hidden.Target.Value();
}

/// <summary>Builds a namespace dependency graph of an assembly from reflection and IL.</summary>
internal static class NamespaceGraph
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>Edges between the first namespace segments under <paramref name="root"/> ("" for the root itself).</summary>
    public static Dictionary<string, HashSet<string>> Of(Assembly assembly, string root)
    {
        var graph = new Dictionary<string, HashSet<string>>();
        string? Node(Type? t)
        {
            while (t is { IsNested: true }) t = t.DeclaringType;
            var ns = t?.Namespace;
            if (ns is null || t!.Assembly != assembly) return null;
            if (ns == root) return "";
            if (!ns.StartsWith(root + ".", StringComparison.Ordinal)) return null;
            return ns[(root.Length + 1)..].Split('.')[0];
        }
        void Add(string from, Type? t)
        {
            if (t is null) return;
            if (t.HasElementType) { Add(from, t.GetElementType()); return; }
            if (t.IsGenericType && !t.IsGenericTypeDefinition) foreach (var a in t.GetGenericArguments()) Add(from, a);
            if (t.IsGenericParameter) return;
            if (Node(t) is { } to && to != from) graph[from].Add(to);
        }
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in assembly.GetTypes())
        {
            if (Node(type) is not { } from) continue;
            graph.TryAdd(from, new HashSet<string>());
            Add(from, type.BaseType);
            foreach (var i in type.GetInterfaces()) Add(from, i);
            foreach (var f in type.GetFields(all)) Add(from, f.FieldType);
            foreach (var p in type.GetProperties(all)) Add(from, p.PropertyType);
            foreach (var m in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                if (m is MethodInfo mi) Add(from, mi.ReturnType);
                foreach (var p in m.GetParameters()) Add(from, p.ParameterType);
                foreach (var t in BodyTypes(m)) Add(from, t);
            }
        }
        return graph;
    }

    /// <summary>Types named by the type, field and method tokens of a method body.</summary>
    private static IEnumerable<Type> BodyTypes(MethodBase method)
    {
        byte[]? il;
        try { il = method.GetMethodBody()?.GetILAsByteArray(); } catch (BadImageFormatException) { il = null; }
        if (il is null) yield break;
        var module = method.Module;
        Type[]? typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int pos = 0; pos < il.Length;)
        {
            short value = il[pos++];
            if (value == 0xFE) value = (short)(0xFE00 | il[pos++]);
            var op = OpCodesByValue[value];
            int size = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, pos),
                _ => 4,
            };
            if (op.OperandType is OperandType.InlineType or OperandType.InlineTok or OperandType.InlineMethod or OperandType.InlineField)
            {
                int token = BitConverter.ToInt32(il, pos);
                MemberInfo? member = null;
                try { member = module.ResolveMember(token, typeArgs, methodArgs); } catch (ArgumentException) { }
                switch (member)
                {
                    case Type t: yield return t; break;
                    case FieldInfo f: yield return f.DeclaringType!; yield return f.FieldType; break;
                    case MethodBase m:
                        yield return m.DeclaringType!;
                        if (m is MethodInfo mi) yield return mi.ReturnType;
                        foreach (var p in m.GetParameters()) yield return p.ParameterType;
                        if (m.IsGenericMethod) foreach (var a in m.GetGenericArguments()) yield return a;
                        break;
                }
            }
            pos += size;
        }
    }

    /// <summary>A cycle as a path that starts and ends at the same node (first found in sorted order), or null.</summary>
    public static List<string>? FindCycle(Dictionary<string, HashSet<string>> graph)
    {
        var state = new Dictionary<string, int>(); // 1 on the current path, 2 finished
        var path = new List<string>();
        List<string>? Visit(string n)
        {
            state[n] = 1;
            path.Add(n);
            foreach (var m in (graph.TryGetValue(n, out var e) ? e : new HashSet<string>()).Order(StringComparer.Ordinal))
            {
                if (state.GetValueOrDefault(m) == 1) return path.Skip(path.IndexOf(m)).Append(m).ToList();
                if (state.GetValueOrDefault(m) == 0 && Visit(m) is { } c) return c;
            }
            path.RemoveAt(path.Count - 1);
            state[n] = 2;
            return null;
        }
        foreach (var n in graph.Keys.Order(StringComparer.Ordinal))
            if (state.GetValueOrDefault(n) == 0 && Visit(n) is { } c) return c;
        return null;
    }
}

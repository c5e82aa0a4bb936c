using System.Runtime.InteropServices;

namespace SemCache.LoadTool.Reports;

/// <summary>What the numbers were measured on: they mean little without it.</summary>
internal sealed record MachineInfo(string CpuModel, int LogicalCores, string Os, string Runtime)
{
    public static MachineInfo Current()
    {
        string cpu = "unknown";
        try
        {
            // The same "model name" that lscpu prints.
            string? line = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
            if (line is not null)
            {
                cpu = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            }
        }
        catch (IOException)
        {
            // Not Linux, or not readable: leave "unknown".
        }

        return new MachineInfo(cpu, Environment.ProcessorCount, RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription);
    }
}

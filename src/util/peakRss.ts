/**
 * The process's own peak RSS. getrusage's ru_maxrss (process.resourceUsage().maxRSS) is not
 * that on Linux: exec keeps the high-water mark of the address space it replaces, so a child
 * forked from a 540 MB parent reports at least 540 MB whatever it does (the spill lab saw every
 * run at the lab process's size). /proc/self/status's VmHWM belongs to the current address
 * space only; ru_maxrss is the fallback where there is no /proc.
 */
import { readFileSync } from 'node:fs';

export function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

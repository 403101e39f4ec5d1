/* cpu_relax.h — the spin-wait hint, the one architecture-specific line the
 * generic code needs (internal). x86's pause and AArch64's yield let the
 * other hardware thread run while a lock is held; elsewhere a plain spin. */
#ifndef VDB_CPU_RELAX_H
#define VDB_CPU_RELAX_H

static inline void vdb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}
#endif

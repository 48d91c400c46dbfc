// SPDX-License-Identifier: Apache-2.0
/*
 * C++ child process for test_symbolize: prints the address of kiln_test::Burner::spin(int)
 * (mangled _ZN9kiln_test6Burner4spinEi) and waits for stdin to close.
 */
#include <cstdint>
#include <cstdio>
#include <unistd.h>

namespace kiln_test
{
struct Burner {
	static int spin(int n);
};

__attribute__((noinline)) int Burner::spin(int n)
{
	volatile int x = 0;

	for (int i = 0; i < n; i++)
		x = x + i;
	return x;
}
} // namespace kiln_test

int main()
{
	char c;

	std::printf("%llx\n", (unsigned long long)(uintptr_t)&kiln_test::Burner::spin);
	std::fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return kiln_test::Burner::spin(3) == 3 ? 0 : 1;
}

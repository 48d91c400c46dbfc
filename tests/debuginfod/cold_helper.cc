// SPDX-License-Identifier: Apache-2.0
/*
 * Built at -O2 by tests/debuginfod: the throw path of work() is moved by the compiler into a
 * piece of its own, _Z4worki.cold ("work(int) [clone .cold]"), which the symbolizer must name
 * work(int).
 */
#include <stdexcept>

__attribute__((noinline)) int work(int x)
{
	int s = 0;

	for (int i = 0; i < x; i++) {
		if (i == 1234567)
			throw std::runtime_error("rare");
		s += i * x;
	}
	return s;
}

int main(int argc, char **)
{
	return work(argc * 1000) & 1;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by pywalk_test.bpf.c and its driver: what one sample sends to user space. */
#ifndef KILN_TESTS_PYWALK_TEST_H
#define KILN_TESTS_PYWALK_TEST_H

#define PYWALK_TEST_WORDS 128
/* The word the program puts before the Python frames, standing for native frames. */
#define PYWALK_TEST_PREFIX 0x1234ull

struct pywalk_sample {
	__u32 tgid;
	__u32 tid;
	__u32 n; /* words used, the prefix included */
	__u32 pad;
	__u64 words[PYWALK_TEST_WORDS];
};

#endif

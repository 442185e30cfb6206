/* main.c: emflow entry point (placeholder until the CLI lands). */
#include <stdio.h>
#include "emi_err.h"
int main(void) { puts(emi_strerror(EMI_SUCCESS)); return 0; }

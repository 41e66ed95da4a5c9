/* placeholder until the test homeserver lands */
int main (void) { return 1; }

// The cost of user password hashes (auth.passwordHashCost): scrypt with r=8, p=1 and N=2^cost.
// The default 15 uses 32 MiB and tens of ms per check; each step up doubles both. The floor 10
// (1 MiB) is for throwaway deployments such as tests; below it a stolen hash is cheap to attack.
// The ceiling 20 (1 GiB) is the largest N verification accepts, so every hash made can be checked.
export const PASSWORD_HASH_COST = { default: 15, min: 10, max: 20 } as const;

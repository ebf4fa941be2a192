import { RegistryError } from './errors.js';

// distribution-spec: <name> MUST match this; each path component separately.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
// distribution-spec: a tag is at most 128 characters of [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
// ACR: registry names are 5-50 alphanumerics, unique case-insensitively.
const REGISTRY_NAME = /^[a-zA-Z0-9]{5,50}$/;

/** Longest repository name we accept; clients limit host + "/" + name to 255 characters. */
export const MAX_REPOSITORY_NAME = 255;

export function isValidRepositoryName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_REPOSITORY_NAME) return false;
  return name.split('/').every((c) => COMPONENT.test(c));
}

export function assertRepositoryName(name: string): string {
  if (!isValidRepositoryName(name)) {
    throw new RegistryError(
      'NAME_INVALID',
      `invalid repository name "${clip(name)}": use lowercase letters, digits and single separators (. _ __ -) in components joined by "/", at most ${MAX_REPOSITORY_NAME} characters`,
      { detail: { name: clip(name) } },
    );
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function assertTag(tag: string): string {
  if (!isValidTag(tag)) {
    throw new RegistryError(
      'TAG_INVALID',
      `invalid tag "${clip(tag)}": a tag is 1-128 characters of letters, digits, "_", "." and "-", and must not start with "." or "-"`,
      { detail: { tag: clip(tag) } },
    );
  }
  return tag;
}

export function isValidRegistryName(name: string): boolean {
  return REGISTRY_NAME.test(name);
}

export function assertRegistryName(name: string): string {
  if (typeof name !== 'string' || !isValidRegistryName(name)) {
    throw new RegistryError(
      'REGISTRY_NAME_INVALID',
      `invalid registry name "${clip(String(name))}": a registry name is 5 to 50 letters and digits (a-z, A-Z, 0-9)`,
    );
  }
  return name;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

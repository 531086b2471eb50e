// sodium-native ships no types; we use a small, explicit subset through this loose declaration.
declare module 'sodium-native' {
  const sodium: any
  export default sodium
}

// The builder loads an .svg imported from code as its raw text (asset/source), which is
// what LabIcon's `svgstr` wants.
declare module '*.svg' {
  const value: string;
  export default value;
}

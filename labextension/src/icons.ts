/**
 * The one icon of the extension, shared by the launcher card, the palette command and the
 * left-sidebar tab.
 */
import { LabIcon } from '@jupyterlab/ui-components';

import dtrainSvgstr from '../style/icons/dtrain.svg';

export const dtrainIcon = new LabIcon({
  name: 'dtrain-jupyter:dtrain',
  svgstr: dtrainSvgstr
});
